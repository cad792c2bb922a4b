import { describe, expect, it } from 'vitest'
import { createGenesis, createKernel, replayLedger } from '../src/index.ts'

describe('recordAlert', () => {
  it('`recordAlert()` appends a durable alert event that replay reproduces', async () => {
    const genesis = createGenesis({ seed: 7 })
    const kernel = await createKernel({}, { genesis })
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } })
    const before = kernel.ledger.size
    const event = await kernel.recordAlert({ reason: 'attach_refused', principal: 'peer-x' })
    expect(event.type).toBe('alert')
    expect(event.seq).toBe(before)
    expect(event.payload).toEqual({ reason: 'attach_refused', principal: 'peer-x' })
    expect(kernel.ledger.head).toBe(event.hash)
    expect(kernel.ledger.verify().ok).toBe(true)
    const report = await replayLedger([...kernel.ledger.events()], { genesis })
    expect(report.ok).toBe(true)
    await kernel.close()
  })

  it('`recordAlert()` rejects when the kernel is closed', async () => {
    const kernel = await createKernel({}, { genesis: createGenesis({ seed: 1 }) })
    await kernel.close()
    await expect(kernel.recordAlert({ reason: 'x' })).rejects.toThrow(/closed/)
  })
})
