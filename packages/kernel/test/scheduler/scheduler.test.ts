import { describe, expect, it } from 'vitest'
import { effectivePriority, replayLedger } from '../../src/index.ts'
import { createFakeWallClock, createTestKernel, eventPayloads, eventTypes, grant, submit } from '../../src/testing/index.ts'
import { TEST_DESCRIPTORS } from '../fixtures.ts'

function startedOrder (kernel: Awaited<ReturnType<typeof createTestKernel>>['kernel']): string[] {
  return [...kernel.ledger.events()].filter(e => e.type === 'started').map(e => e.token_id as string)
}

const put = (id: string, extra: Record<string, unknown> = {}): { id: string, capability: string, args: Record<string, unknown> } =>
  ({ id, capability: 'kernel.state.put', args: { namespace: 'n', key: id, value: id }, ...extra })

describe('scheduler', () => {
  it('`step()` runs the highest priority first and breaks ties by submission order', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('low', { priority: 0 }))
    await submit(kernel, put('high', { priority: 9 }))
    await submit(kernel, put('mid1', { priority: 5 }))
    await submit(kernel, put('mid2', { priority: 5 }))
    expect(await kernel.runUntilIdle()).toBe(4)
    expect(startedOrder(kernel)).toEqual(['high', 'mid1', 'mid2', 'low'])
    expect(await kernel.step()).toBe(false)
  })

  it('`step()` emits scheduled, started, completed in order for a plain token', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('t'))
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'scheduled', 'started', 'completed'])
    expect(kernel.token('t')?.state).toBe('completed')
  })

  it('`step()` puts custom events between started and completed, and snapshot_created just before completed', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.script')
    await grant(kernel, 'agent', 'kernel.snapshot')
    await submit(kernel, { id: 'e', capability: 'kernel.script', args: { ops: [{ op: 'emit', name: 'one' }, { op: 'put', namespace: 'n', key: 'k', value: 1 }, { op: 'emit', name: 'two', data: { x: 1 } }] } })
    await submit(kernel, { id: 's', capability: 'kernel.snapshot', args: { label: 'from token' } })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 'e' })).toEqual(['request', 'scheduled', 'started', 'custom', 'custom', 'completed'])
    expect(eventPayloads(kernel, 'custom', 'e').map(p => p.name)).toEqual(['one', 'two'])
    expect(eventTypes(kernel, { tokenId: 's' })).toEqual(['request', 'scheduled', 'started', 'snapshot_created', 'completed'])
    const snaps = await kernel.snapshots.list()
    expect(snaps.map(s => s.label)).toEqual(['from token'])
    expect((await kernel.snapshots.replay(snaps[0]!.id)).ok).toBe(true)
  })

  it('`step()` runs a token only after its dependencies complete', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('first', { priority: 0 }))
    await submit(kernel, put('second', { priority: 10, after: ['first'] }))
    await submit(kernel, put('third', { priority: 5, after: ['second'] }))
    await kernel.runUntilIdle()
    expect(startedOrder(kernel)).toEqual(['first', 'second', 'third'])
  })

  it('`step()` fails dependents with DEPENDENCY_FAILED when a dependency fails', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('a', { budget: { memory: 1 } }))
    await submit(kernel, put('b', { after: ['a'] }))
    await submit(kernel, put('c', { after: ['b'] }))
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 'a' })).toEqual(['request', 'scheduled', 'started', 'resource_budget_exceeded', 'failed'])
    expect(eventTypes(kernel, { tokenId: 'b' })).toEqual(['request', 'scheduled', 'failed'])
    expect(eventTypes(kernel, { tokenId: 'c' })).toEqual(['request', 'scheduled', 'failed'])
    expect(kernel.token('b')?.error?.code).toBe('DEPENDENCY_FAILED')
    expect(eventPayloads(kernel, 'failed', 'c')[0]).toMatchObject({ code: 'DEPENDENCY_FAILED', dependency: 'b' })
    // submitting after a failed token fails at once
    const late = await submit(kernel, put('d', { after: ['a'] }))
    expect(late.error?.code).toBe('DEPENDENCY_FAILED')
    expect(eventTypes(kernel, { tokenId: 'd' })).toEqual(['request', 'scheduled', 'failed'])
  })

  it('`handle(CancelToken)` cancels a queued token at once and fails its dependents', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('a'))
    await submit(kernel, put('b', { after: ['a'] }))
    const res = await kernel.handle({ type: 'CancelToken', tokenId: 'a', reason: 'changed my mind' })
    expect(res.disposition).toBe('accepted')
    expect(eventTypes(kernel, { tokenId: 'a' })).toEqual(['request', 'scheduled', 'request', 'cancelled'])
    expect(eventPayloads(kernel, 'cancelled', 'a')[0]).toMatchObject({ reason: 'changed my mind', was: 'scheduled' })
    expect(kernel.token('a')?.state).toBe('cancelled')
    expect(kernel.token('b')?.error?.code).toBe('DEPENDENCY_FAILED')
    expect(await kernel.runUntilIdle()).toBe(0)
    expect(kernel.kv('n')).toEqual([])
  })

  it('`handle(CancelToken)` rejects a finished token with TOKEN_NOT_CANCELLABLE', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('a'))
    await kernel.runUntilIdle()
    const res = await kernel.handle({ type: 'CancelToken', tokenId: 'a' })
    expect(res.error?.code).toBe('TOKEN_NOT_CANCELLABLE')
    expect(eventTypes(kernel).at(-1)).toBe('request_rejected')
  })

  it('`effectivePriority()` grows by one every agingTicks ticks waited', () => {
    const entry = { priority: 2, order: 1, since: 10, after: [] }
    expect(effectivePriority(entry, 10, 4)).toBe(2)
    expect(effectivePriority(entry, 13, 4)).toBe(2)
    expect(effectivePriority(entry, 14, 4)).toBe(3)
    expect(effectivePriority(entry, 50, 4)).toBe(12)
  })

  async function starvationRun (agingTicks: number): Promise<number | undefined> {
    const { kernel } = await createTestKernel({ limits: { agingTicks } })
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('starving', { priority: 0 }))
    for (let i = 0; i < 60; i++) {
      await submit(kernel, put(`hot-${i}`, { priority: 10 }))
      await kernel.step()
      if (kernel.token('starving')?.state === 'completed') return i
    }
    return undefined
  }

  it('`step()` ages waiting tokens so a low priority token is not starved by a stream of high priority ones', async () => {
    const ranAt = await starvationRun(4)
    expect(ranAt).toBeDefined()
    expect(ranAt).toBeLessThan(40)
    // without aging (huge agingTicks) the same stream starves it
    expect(await starvationRun(1_000_000)).toBeUndefined()
  })

  it('`step()` halts a token that overruns its tokens budget and rolls back its writes', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.script')
    const ops = Array.from({ length: 6 }, (_, i) => ({ op: 'put', namespace: 'n', key: `k${i}`, value: i }))
    await submit(kernel, { id: 't', capability: 'kernel.script', args: { ops }, budget: { tokens: 4 } })
    const before = kernel.stateHash()
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'scheduled', 'started', 'resource_budget_exceeded', 'failed'])
    expect(eventPayloads(kernel, 'resource_budget_exceeded', 't')[0]).toEqual({ kind: 'tokens', limit: 4, used: 5 })
    expect(kernel.kv('n')).toEqual([])
    expect(kernel.token('t')?.error?.code).toBe('BUDGET_EXCEEDED')
    expect(kernel.stateHash()).not.toBe(before) // token status and usage changed
    expect(kernel.kv()).toEqual([])
  })

  it('`step()` halts a token that overruns its memory budget', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, { id: 't', capability: 'kernel.state.put', args: { namespace: 'n', key: 'k', value: 'v'.repeat(100) }, budget: { memory: 64 } })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'scheduled', 'started', 'resource_budget_exceeded', 'failed'])
    expect(eventPayloads(kernel, 'resource_budget_exceeded', 't')[0]).toEqual({ kind: 'memory', limit: 64, used: 103 })
    expect(kernel.kv('n')).toEqual([])
  })

  it('`step()` halts a token that overruns its network budget, charged from the recorded external result', async () => {
    const { kernel, storage, genesis } = await createTestKernel({ descriptors: TEST_DESCRIPTORS })
    await grant(kernel, 'agent', 'test.fetch')
    await submit(kernel, { id: 'ok', capability: 'test.fetch', args: { host: 'example.org', size: 10 }, budget: { network: 64 } })
    await submit(kernel, { id: 'big', capability: 'test.fetch', args: { host: 'example.org', size: 100 }, budget: { network: 64 } })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 'ok' })).toEqual(['request', 'scheduled', 'started', 'external_result', 'completed'])
    expect(eventTypes(kernel, { tokenId: 'big' })).toEqual(['request', 'scheduled', 'started', 'external_result', 'resource_budget_exceeded', 'failed'])
    expect(eventPayloads(kernel, 'resource_budget_exceeded', 'big')[0]).toEqual({ kind: 'network', limit: 64, used: 102 })
    // replay serves the result from the ledger
    expect(await replayLedger(storage.events, { genesis, descriptors: TEST_DESCRIPTORS })).toMatchObject({ ok: true })
  })

  it('`step()` halts a token that overruns its wall-clock budget and replay reproduces the kill without timing', async () => {
    const wallClock = createFakeWallClock(100)
    const { kernel, storage, genesis } = await createTestKernel({ descriptors: TEST_DESCRIPTORS, components: { wallClock } })
    await grant(kernel, 'agent', 'test.fetch')
    await submit(kernel, { id: 'slow', capability: 'test.fetch', args: { host: 'example.org', size: 1 }, budget: { wallClockMs: 50 } })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 'slow' })).toEqual(['request', 'scheduled', 'started', 'external_result', 'resource_budget_exceeded', 'failed'])
    expect(eventPayloads(kernel, 'resource_budget_exceeded', 'slow')[0]).toEqual({ kind: 'wallClockMs', limit: 50, used: 100 })
    const reads = wallClock.reads
    const frozen = createFakeWallClock(0)
    expect(await replayLedger(storage.events, { genesis, descriptors: TEST_DESCRIPTORS }, { wallClock: frozen })).toMatchObject({ ok: true })
    expect(frozen.reads).toBe(0)
    expect(wallClock.reads).toBe(reads)
  })

  it('`step()` fails a throwing handler with HANDLER_FAILED and keeps none of its writes', async () => {
    const { kernel } = await createTestKernel({ descriptors: TEST_DESCRIPTORS })
    await grant(kernel, 'agent', 'test.throw')
    await submit(kernel, { id: 't', capability: 'test.throw', args: {} })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'scheduled', 'started', 'failed'])
    expect(kernel.token('t')?.error?.code).toBe('HANDLER_FAILED')
    expect(kernel.kv()).toEqual([])
  })

  it('`step()` advances the clock by what the step metered', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.sleep')
    await submit(kernel, { id: 'z', capability: 'kernel.sleep', args: { ticks: 500 } })
    const t0 = kernel.ledger.get(kernel.ledger.size - 1)!.tick
    await kernel.runUntilIdle()
    const done = [...kernel.ledger.events()].find(e => e.type === 'completed')!
    expect(done.tick - t0).toBeGreaterThanOrEqual(500)
    expect(kernel.token('z')?.result).toMatchObject({ slept: 500 })
  })
})
