import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createMemoryLedgerStorage, createKernel, defineCapability, replayLedger } from '../../src/index.ts'
import { createTestKernel, eventPayloads, eventTypes, grant, submit } from '../../src/testing/index.ts'
import { createGate, testStubborn } from '../fixtures.ts'

describe('cancelling a running token', () => {
  it('`handle(CancelToken)` stops a running token at its next metering point and records an interrupt', async () => {
    const gate = createGate()
    const { kernel, storage, genesis } = await createTestKernel({ descriptors: [gate.descriptor] })
    await grant(kernel, 'agent', 'test.gate')
    await submit(kernel, { id: 'g', capability: 'test.gate', args: { steps: 3 } })
    await submit(kernel, { id: 'after', capability: 'test.gate', args: { steps: 0 }, after: ['g'] })
    const stepping = kernel.step()
    await gate.reached
    expect(kernel.token('g')?.state).toBe('scheduled')
    const cancelling = kernel.handle({ type: 'CancelToken', tokenId: 'g', reason: 'stop' })
    gate.release('body')
    expect(await stepping).toBe(true)
    const res = await cancelling
    expect(res).toMatchObject({ disposition: 'accepted', result: { tokenId: 'g', was: 'running' } })
    expect(eventTypes(kernel, { tokenId: 'g' })).toEqual(['request', 'scheduled', 'started', 'external_result', 'interrupt', 'cancelled'])
    expect(eventPayloads(kernel, 'interrupt', 'g')[0]).toMatchObject({ request: { type: 'CancelToken', tokenId: 'g', reason: 'stop' } })
    expect(kernel.token('g')?.state).toBe('cancelled')
    expect(kernel.token('after')?.error?.code).toBe('DEPENDENCY_FAILED')
    expect(kernel.kv()).toEqual([])
    // replay reproduces the interruption at the same point, and reopening rebuilds it
    expect(await replayLedger(storage.events, { genesis, descriptors: [gate.descriptor] })).toMatchObject({ ok: true, head: kernel.ledger.head })
    const reopened = await createKernel({ storage: createMemoryLedgerStorage(storage.events) }, { genesis, descriptors: [gate.descriptor] })
    expect(reopened.stateHash()).toBe(kernel.stateHash())
  })

  it('`handle(CancelToken)` stops a running token whose external call was its last step', async () => {
    const gate = createGate()
    const { kernel } = await createTestKernel({ descriptors: [gate.descriptor] })
    await grant(kernel, 'agent', 'test.gate')
    await submit(kernel, { id: 'g', capability: 'test.gate', args: { steps: 0 } })
    const stepping = kernel.step()
    await gate.reached
    const cancelling = kernel.handle({ type: 'CancelToken', tokenId: 'g' })
    gate.release('x')
    await stepping
    // the network charge after the external result is a metering point, so it is noticed
    expect((await cancelling).disposition).toBe('accepted')
    expect(kernel.token('g')?.state).toBe('cancelled')
  })

  it('`handle(CancelToken)` is rejected with TOKEN_NOT_CANCELLABLE when the run finishes without another metering point', async () => {
    let release: () => void = () => undefined
    let reached: () => void = () => undefined
    const atGate = new Promise<void>(resolve => { reached = resolve })
    const quiet = defineCapability({
      id: 'test.quiet',
      version: 1,
      description: 'Waits without metering, then returns',
      args: z.strictObject({}),
      handler: async () => { reached(); await new Promise<void>(resolve => { release = resolve }); return 'done' }
    })
    const { kernel } = await createTestKernel({ descriptors: [quiet] })
    await grant(kernel, 'agent', 'test.quiet')
    await submit(kernel, { id: 'q', capability: 'test.quiet', args: {} })
    const stepping = kernel.step()
    await atGate
    const cancelling = kernel.handle({ type: 'CancelToken', tokenId: 'q' })
    release()
    await stepping
    const res = await cancelling
    expect(res.error?.code).toBe('TOKEN_NOT_CANCELLABLE')
    expect(kernel.token('q')?.state).toBe('completed')
    expect(eventTypes(kernel).slice(-2)).toEqual(['completed', 'request_rejected'])
  })

  it('`step()` stops a handler that swallows budget errors', async () => {
    const { kernel } = await createTestKernel({ descriptors: [testStubborn] })
    await grant(kernel, 'agent', 'test.stubborn')
    await submit(kernel, { id: 's', capability: 'test.stubborn', args: {}, budget: { tokens: 5 } })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 's' })).toEqual(['request', 'scheduled', 'started', 'resource_budget_exceeded', 'failed'])
    expect(kernel.kv()).toEqual([])
  })
})
