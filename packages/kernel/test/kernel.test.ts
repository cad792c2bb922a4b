import { describe, expect, it } from 'vitest'
import { canonicalize } from '@os2/crypto'
import { createKernel, createGenesis, createMemoryLedgerStorage, replayLedger, isKernelError } from '../src/index.ts'
import type { KernelHandle, LedgerStorage, EventEnvelope } from '../src/index.ts'
import { createTestKernel, eventTypes, grant, submit, testGenesis } from '../src/testing/index.ts'
import { rehashFrom } from './helpers.ts'

async function scenario (kernel: KernelHandle): Promise<void> {
  await grant(kernel, 'agent', 'kernel.state.put')
  await grant(kernel, 'agent', 'kernel.emit')
  await submit(kernel, { id: 'a', capability: 'kernel.state.put', args: { namespace: 'n', key: 'x', value: { v: 1 } }, priority: 1 })
  await submit(kernel, { id: 'b', capability: 'kernel.emit', args: { name: 'hello', data: [1, 2] }, after: ['a'] })
  await kernel.runUntilIdle()
  await kernel.snapshots.create('s1')
  await submit(kernel, { id: 'c', capability: 'kernel.state.put', args: { namespace: 'n', key: 'y', value: 'z' } })
  await kernel.runUntilIdle()
}

function ledgerBytes (storage: { events: readonly EventEnvelope[] }): string {
  return storage.events.map(e => canonicalize(e)).join('\n')
}

describe('createKernel()', () => {
  it('`createKernel()` writes a genesis event carrying the genesis hash first', async () => {
    const { kernel } = await createTestKernel({ seed: 7 })
    const first = kernel.ledger.get(0)
    expect(first?.type).toBe('genesis')
    expect(typeof first?.payload.genesis_hash).toBe('string')
    expect(kernel.ledger.size).toBe(1)
  })

  it('`createKernel()` gives byte-identical ledgers and heads for the same seed and inputs', async () => {
    const a = await createTestKernel({ seed: 42 })
    const b = await createTestKernel({ seed: 42 })
    await scenario(a.kernel)
    await scenario(b.kernel)
    expect(a.kernel.ledger.size).toBeGreaterThan(10)
    expect(ledgerBytes(a.storage)).toBe(ledgerBytes(b.storage))
    expect(a.kernel.ledger.head).toBe(b.kernel.ledger.head)
    expect(a.kernel.stateHash()).toBe(b.kernel.stateHash())
  })

  it('`createKernel()` gives a different ledger for a different seed', async () => {
    const a = await createTestKernel({ seed: 42 })
    const b = await createTestKernel({ seed: 43 })
    await scenario(a.kernel)
    await scenario(b.kernel)
    expect(a.kernel.ledger.head).not.toBe(b.kernel.ledger.head)
    expect(a.kernel.grants()[0]?.id).not.toBe(b.kernel.grants()[0]?.id)
  })

  it('`createKernel()` rebuilds the same state from a stored ledger by replaying it', async () => {
    const { kernel, storage, genesis } = await createTestKernel({ seed: 5 })
    await scenario(kernel)
    const hash = kernel.stateHash()
    const head = kernel.ledger.head
    await kernel.close()
    const reopened = await createKernel({ storage: createMemoryLedgerStorage(storage.events) }, { genesis })
    expect(reopened.ledger.head).toBe(head)
    expect(reopened.stateHash()).toBe(hash)
    expect(reopened.kv('n').map(e => e.key)).toEqual(['x', 'y'])
    expect(reopened.token('c')?.state).toBe('completed')
    // and it keeps going deterministically
    await submit(reopened, { id: 'd', capability: 'kernel.state.put', args: { namespace: 'n', key: 'w', value: 1 } })
    expect(reopened.token('d')?.state).toBe('scheduled')
  })

  it('`createKernel()` refuses a ledger made from another genesis with GENESIS_INVALID', async () => {
    const { kernel, storage } = await createTestKernel({ seed: 5 })
    await scenario(kernel)
    const err = await createKernel({ storage: createMemoryLedgerStorage(storage.events) }, { genesis: testGenesis({ seed: 6 }) }).catch(e => e)
    expect(isKernelError(err, 'GENESIS_INVALID')).toBe(true)
  })

  it('`createKernel()` appends an alert event when storage repaired a torn tail', async () => {
    const { kernel, storage, genesis } = await createTestKernel({ seed: 5 })
    await scenario(kernel)
    const size = kernel.ledger.size
    const repairing: LedgerStorage = {
      async load () { return { events: storage.events.slice(), repaired: { segment: 'seg-0', droppedBytes: 17, atSeq: size } } },
      append: async () => {},
      close: async () => {}
    }
    const reopened = await createKernel({ storage: repairing }, { genesis })
    expect(reopened.ledger.size).toBe(size + 1)
    const alert = reopened.ledger.get(size)
    expect(alert?.type).toBe('alert')
    expect(alert?.payload).toMatchObject({ reason: 'torn_tail_repaired', dropped_bytes: 17, at_seq: size })
    // the alert is an input: reopening again replays it
    const again = await createKernel({ storage: createMemoryLedgerStorage([...reopened.ledger.events()]) }, { genesis })
    expect(again.ledger.head).toBe(reopened.ledger.head)
  })

  it('`createKernel()` fails with REPLAY_DIVERGED at the first altered event whose chain was re-hashed', async () => {
    const { kernel, storage, genesis } = await createTestKernel({ seed: 5 })
    await scenario(kernel)
    const events = storage.events.map(e => structuredClone(e))
    const target = events.findIndex(e => e.type === 'completed')
    const altered = rehashFrom(events, target, e => ({ ...e, payload: { ...e.payload, result: { forged: true } } }))
    const err = await createKernel({ storage: createMemoryLedgerStorage(altered) }, { genesis }).catch(e => e)
    expect(isKernelError(err, 'REPLAY_DIVERGED')).toBe(true)
    expect((err as { details: { firstDivergentSeq: number } }).details.firstDivergentSeq).toBe(target)
  })
})


describe('kernel.handle()', () => {
  async function rejected (request: unknown, code: string): Promise<void> {
    const { kernel } = await createTestKernel({ seed: 1, limits: { maxRequestBytes: 2048 } })
    await grant(kernel, 'agent', 'kernel.state.put')
    const before = [...kernel.ledger.events()]
    const res = await kernel.handle(request)
    expect(res.disposition).toBe('rejected')
    expect(res.error?.code).toBe(code)
    const after = [...kernel.ledger.events()]
    expect(after.slice(0, before.length)).toEqual(before)
    expect(after.length).toBe(before.length + 1)
    expect(after[after.length - 1]?.type).toBe('request_rejected')
    expect(after[after.length - 1]?.payload.code).toBe(code)
    expect(res.ledgerSeq).toBe(after.length - 1)
  }

  it('`handle()` rejects a non-object with BAD_REQUEST and only a rejection event', async () => {
    await rejected('not an object', 'BAD_REQUEST')
    await rejected([1, 2], 'BAD_REQUEST')
  })

  it('`handle()` rejects a value that is not JSON with BAD_REQUEST', async () => {
    await rejected({ type: 'SubmitToken', x: Number.NaN }, 'BAD_REQUEST')
  })

  it('`handle()` rejects an unknown request type with UNKNOWN_REQUEST_TYPE', async () => {
    await rejected({ type: 'Reboot' }, 'UNKNOWN_REQUEST_TYPE')
    await rejected({ notype: 1 }, 'UNKNOWN_REQUEST_TYPE')
  })

  it('`handle()` rejects an unknown capability with UNKNOWN_CAPABILITY', async () => {
    await rejected({ type: 'SubmitToken', token: { id: 't', capability: 'no.such.cap', principal: 'agent' } }, 'UNKNOWN_CAPABILITY')
    await rejected({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'no.such.cap' } }, 'UNKNOWN_CAPABILITY')
  })

  it('`handle()` rejects schema violations with SCHEMA_VIOLATION', async () => {
    await rejected({ type: 'SubmitToken', token: { id: 't', capability: 'kernel.state.put', principal: 'agent', priority: 'high' } }, 'SCHEMA_VIOLATION')
    await rejected({ type: 'SubmitToken', token: { id: 't', capability: 'kernel.state.put', principal: 'agent', args: { namespace: 'n' } } }, 'SCHEMA_VIOLATION')
    await rejected({ type: 'CancelToken', tokenId: 'bad id with spaces' }, 'SCHEMA_VIOLATION')
    await rejected({ type: 'StreamEvents', since: -1 }, 'SCHEMA_VIOLATION')
  })

  it('`handle()` rejects an oversized request with PAYLOAD_TOO_LARGE without storing it', async () => {
    const big = 'x'.repeat(5000)
    await rejected({ type: 'SubmitToken', token: { id: 't', capability: 'kernel.state.put', principal: 'agent', args: { namespace: 'n', key: 'k', value: big } } }, 'PAYLOAD_TOO_LARGE')
    const { kernel } = await createTestKernel({ limits: { maxRequestBytes: 2048 } })
    await kernel.handle({ type: 'SubmitToken', token: { id: 't', capability: 'kernel.state.put', principal: 'agent', args: { value: big } } })
    const last = kernel.ledger.get(kernel.ledger.size - 1)
    expect(last?.payload.request).toBeUndefined()
    expect(last?.payload.request_bytes).toBeGreaterThan(5000)
  })

  it('`handle()` rejects semantic errors with stable codes', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    const t = { id: 't', capability: 'kernel.state.put', args: { namespace: 'n', key: 'k', value: 1 } }
    expect((await submit(kernel, t)).disposition).toBe('queued')
    expect((await submit(kernel, t)).error?.code).toBe('DUPLICATE_TOKEN')
    expect((await submit(kernel, { ...t, id: 'u', after: ['nope'] })).error?.code).toBe('UNKNOWN_TOKEN')
    expect((await kernel.handle({ type: 'CancelToken', tokenId: 'nope' })).error?.code).toBe('UNKNOWN_TOKEN')
    expect((await kernel.handle({ type: 'RevokeCapability', grantId: 'nope' })).error?.code).toBe('UNKNOWN_GRANT')
    expect((await kernel.handle({ type: 'GrantCapability', from: 'mallory', grant: { principal: 'mallory', capability: 'kernel.state.put' } })).error?.code).toBe('CAPABILITY_DENIED')
    expect(eventTypes(kernel).filter(t => t === 'request_rejected')).toHaveLength(5)
  })

  it('`handle()` answers StreamEvents with the events since a seq without writing to the ledger', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    const size = kernel.ledger.size
    const res = await kernel.handle({ type: 'StreamEvents', since: 1, limit: 1 })
    expect(res.disposition).toBe('accepted')
    const result = res.result as { events: EventEnvelope[], next: number }
    expect(result.events.map(e => e.seq)).toEqual([1])
    expect(result.next).toBe(2)
    expect(kernel.ledger.size).toBe(size)
  })

  it('`replayLedger()` reproduces a whole ledger and reports the first divergence', async () => {
    const { kernel, storage, genesis } = await createTestKernel({ seed: 9 })
    await scenario(kernel)
    const ok = await replayLedger(storage.events, { genesis })
    expect(ok).toMatchObject({ ok: true, head: kernel.ledger.head })
    const events = storage.events.map(e => structuredClone(e))
    const target = events.findIndex(e => e.type === 'scheduled')
    const bad = await replayLedger(rehashFrom(events, target, e => ({ ...e, tick: e.tick + 1 })), { genesis })
    expect(bad).toMatchObject({ ok: false, firstDivergentSeq: target })
  })

  it('`createGenesis()` output is accepted by `createKernel()` with no storage', async () => {
    const kernel = await createKernel({}, { genesis: createGenesis({ seed: 'x' }) })
    expect(kernel.capabilities().map(c => c.id)).toContain('kernel.state.put')
  })
})
