import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineCapability, isKernelError, replayLedger } from '../../src/index.ts'
import { createTestKernel, eventPayloads, eventTypes, grant, submit } from '../../src/testing/index.ts'

let calls = 0
const flaky = defineCapability({
  id: 'test.flaky',
  version: 1,
  description: 'An external call that fails, then a random number',
  args: z.strictObject({ fail: z.boolean() }),
  handler: async (args, ctx) => {
    const n = ctx.random()
    const got = await ctx.external('flaky', () => { calls++; if (args.fail) throw new Error('upstream down'); return { n } })
    return { got, n }
  }
})

describe('TokenRun', () => {
  it('`ctx.external()` records a failing call and replay reproduces the failure without calling out', async () => {
    const { kernel, storage, genesis } = await createTestKernel({ descriptors: [flaky] })
    await grant(kernel, 'agent', 'test.flaky')
    await submit(kernel, { id: 'bad', capability: 'test.flaky', args: { fail: true } })
    await submit(kernel, { id: 'good', capability: 'test.flaky', args: { fail: false } })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 'bad' })).toEqual(['request', 'scheduled', 'started', 'external_result', 'failed'])
    expect(eventPayloads(kernel, 'external_result', 'bad')[0]).toMatchObject({ name: 'flaky', result: null, error: 'upstream down' })
    expect(kernel.token('bad')?.error?.code).toBe('HANDLER_FAILED')
    expect(kernel.token('good')?.state).toBe('completed')
    const before = calls
    expect(await replayLedger(storage.events, { genesis, descriptors: [flaky] })).toMatchObject({ ok: true })
    expect(calls).toBe(before)
  })

  it('`ctx.random()` draws from the seeded kernel RNG, so the seed changes results and replay keeps them', async () => {
    const results: unknown[] = []
    for (const seed of [1, 1, 2]) {
      const { kernel } = await createTestKernel({ seed, descriptors: [flaky] })
      await grant(kernel, 'agent', 'test.flaky')
      await submit(kernel, { id: 'r', capability: 'test.flaky', args: { fail: false } })
      await kernel.runUntilIdle()
      results.push(kernel.token('r')?.result)
    }
    expect(results[0]).toEqual(results[1])
    expect(results[0]).not.toEqual(results[2])
  })

  it('`kernel.state.list` honours prefix and limit', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.script')
    await grant(kernel, 'agent', 'kernel.state.list')
    await submit(kernel, { id: 'w', capability: 'kernel.script', args: { ops: ['a1', 'a2', 'a3', 'b1'].map(key => ({ op: 'put', namespace: 'n', key, value: key })) } })
    await submit(kernel, { id: 'l', capability: 'kernel.state.list', args: { namespace: 'n', prefix: 'a', limit: 2 }, after: ['w'] })
    await kernel.runUntilIdle()
    expect(kernel.token('l')?.result).toEqual({ entries: [{ key: 'a1', value: 'a1' }, { key: 'a2', value: 'a2' }] })
  })

  it('`close()` flushes and then refuses further requests', async () => {
    const { kernel, storage } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await kernel.close()
    expect(storage.events).toHaveLength(kernel.ledger.size)
    const err = await kernel.handle({ type: 'ListSnapshots' }).catch(e => e)
    expect(isKernelError(err)).toBe(true)
  })
})
