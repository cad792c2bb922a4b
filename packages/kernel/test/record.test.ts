import { describe, expect, it } from 'vitest'
import { createGenesis, createKernel, createMemoryLedgerStorage, isInputEventType, isRecordedEventType, replayLedger } from '../src/index.ts'

describe('record', () => {
  it('`record()` appends a dotted event between requests that replay and reopen reproduce', async () => {
    const genesis = createGenesis({ seed: 9 })
    const storage = createMemoryLedgerStorage()
    const kernel = await createKernel({ storage }, { genesis })
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } })
    const event = await kernel.record('federation.verdict', { verdict: 'rejected', reason: 'NO_GRANT' })
    await kernel.handle({ type: 'SubmitToken', token: { id: 't1', capability: 'kernel.state.put', principal: 'agent', args: { namespace: 'n', key: 'k', value: 1 } } })
    await kernel.runUntilIdle()
    expect(event.type).toBe('federation.verdict')
    expect(event.payload).toEqual({ verdict: 'rejected', reason: 'NO_GRANT' })
    expect(kernel.ledger.get(event.seq)?.hash).toBe(event.hash)
    const events = [...kernel.ledger.events()]
    expect((await replayLedger(events, { genesis })).ok).toBe(true)
    await kernel.close()
    const reopened = await createKernel({ storage }, { genesis })
    expect(reopened.ledger.head).toBe(events[events.length - 1]?.hash)
    expect(reopened.kv('n')).toEqual([{ namespace: 'n', key: 'k', value: 1 }])
    await reopened.close()
  })

  it('`record()` rejects kernel event types and oversized payloads', async () => {
    const genesis = createGenesis({ seed: 1 })
    const kernel = await createKernel({}, { genesis })
    const size = kernel.ledger.size
    await expect(kernel.record('completed', {})).rejects.toMatchObject({ code: 'BAD_REQUEST' })
    await expect(kernel.record('memory.commit', { x: 'y'.repeat(genesis.limits.maxPayloadBytes + 1) })).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' })
    expect(kernel.ledger.size).toBe(size)
    await kernel.close()
  })

  it('`isInputEventType()` is true for kernel inputs and dotted types only', () => {
    expect(['request', 'alert', 'request_rejected', 'federation.verdict', 'memory.commit'].map(isInputEventType)).toEqual([true, true, true, true, true])
    expect(['completed', 'custom', 'external_result', '.x', 'a.', 'A.b'].map(isInputEventType)).toEqual([false, false, false, false, false, false])
    expect(isRecordedEventType('alert')).toBe(false)
  })
})
