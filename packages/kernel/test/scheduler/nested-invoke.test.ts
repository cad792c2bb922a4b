import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createKernel, defineCapability, isKernelError, replayLedger } from '../../src/index.ts'
import { createTestKernel, eventPayloads, eventTypes, grant, submit } from '../../src/testing/index.ts'

let externalCalls = 0

/** Invokes each listed call in turn and reports what each returned or threw (as a script would). */
const outer = defineCapability({
  id: 'test.outer',
  version: 1,
  description: 'Invokes other capabilities from inside its handler',
  args: z.strictObject({ calls: z.array(z.strictObject({ capability: z.string(), args: z.json() })) }),
  handler: async (args, ctx) => {
    const out = []
    for (const call of args.calls) {
      try {
        out.push({ ok: true, value: await ctx.invoke(call.capability, call.args) })
      } catch (err) {
        if (!isKernelError(err)) throw err
        out.push({ ok: false, code: err.code })
      }
    }
    return out
  }
})

/** An external call inside a nested invocation: run once live, served from the ledger on replay. */
const remote = defineCapability({
  id: 'test.remote',
  version: 1,
  description: 'Records an external result and checks its namespace',
  args: z.strictObject({ namespace: z.string() }),
  scope: args => ({ namespaces: [args.namespace] }),
  limits: { cost: 5, rateLimit: { capacity: 2, refillPerTick: 0 } },
  handler: async (args, ctx) => {
    ctx.checkScope({ namespaces: [args.namespace] })
    return await ctx.external('remote', () => { externalCalls++; return { n: externalCalls } })
  }
})

const descriptors = [outer, remote]

describe('ctx.invoke()', () => {
  it('runs a granted capability inside the token: its writes commit with the token, its cost is charged, usage is counted, replay reproduces it', async () => {
    const { kernel, storage, genesis } = await createTestKernel({ descriptors })
    await grant(kernel, 'agent', 'test.outer')
    await grant(kernel, 'agent', 'kernel.state.put', { scope: { namespaces: ['notes'] } })
    await grant(kernel, 'agent', 'kernel.emit')
    await grant(kernel, 'agent', 'test.remote', { scope: { namespaces: ['notes'] } })
    await submit(kernel, {
      id: 't1',
      capability: 'test.outer',
      args: {
        calls: [
          { capability: 'kernel.state.put', args: { namespace: 'notes', key: 'a', value: 1 } },
          { capability: 'kernel.emit', args: { name: 'hello', data: { x: 1 } } },
          { capability: 'test.remote', args: { namespace: 'notes' } }
        ]
      }
    })
    await kernel.runUntilIdle()
    const status = kernel.token('t1')
    expect(status?.state).toBe('completed')
    expect(status?.result).toEqual([{ ok: true, value: { ok: true } }, { ok: true, value: { ok: true } }, { ok: true, value: { n: externalCalls } }])
    // outer cost 1 + put (cost 1, put 1) + emit (cost 1, emit 1) + remote (cost 5, external 1)
    expect(status?.used.tokens).toBe(11)
    expect(eventTypes(kernel, { tokenId: 't1' })).toEqual(['request', 'scheduled', 'started', 'custom', 'external_result', 'completed'])
    expect(kernel.state.get('kv/notes', 'a')).toBe(1)
    expect(kernel.state.get('usage', 'kernel.state.put')).toEqual({ invocations: 1, tokensCharged: 2 })
    expect(kernel.state.get('usage', 'test.remote')).toEqual({ invocations: 1, tokensCharged: 6 })
    const calls = externalCalls
    const report = await replayLedger(storage.events, { genesis, descriptors })
    expect(report).toMatchObject({ ok: true })
    expect(externalCalls).toBe(calls)
    // Opening the ledger replays it to the same head without calling out.
    const reopened = await createKernel({ storage }, { genesis, descriptors })
    expect(reopened.ledger.head).toBe(kernel.ledger.head)
    expect(reopened.state.hash()).toBe(kernel.state.hash())
    expect(externalCalls).toBe(calls)
  })

  it('refuses an ungranted or out-of-scope invocation with the top-level violation code, and the grant in force inside is the nested one', async () => {
    const { kernel } = await createTestKernel({ descriptors })
    await grant(kernel, 'agent', 'test.outer')
    await grant(kernel, 'agent', 'test.remote', { scope: { namespaces: ['notes'] } })
    await submit(kernel, {
      id: 't1',
      capability: 'test.outer',
      args: {
        calls: [
          { capability: 'kernel.state.put', args: { namespace: 'notes', key: 'a', value: 1 } },
          { capability: 'test.remote', args: { namespace: 'secret' } },
          { capability: 'test.remote', args: { namespace: 7 } },
          { capability: 'no.such', args: {} }
        ]
      }
    })
    await kernel.runUntilIdle()
    expect(kernel.token('t1')?.result).toEqual([
      { ok: false, code: 'GRANT_MISSING' },
      { ok: false, code: 'GRANT_OUT_OF_SCOPE' },
      { ok: false, code: 'SCHEMA_VIOLATION' },
      { ok: false, code: 'UNKNOWN_CAPABILITY' }
    ])
    expect(kernel.state.get('kv/notes', 'a')).toBeUndefined()
    expect(eventTypes(kernel, { tokenId: 't1' })).not.toContain('external_result')
  })

  it('a violation the handler lets through fails the token with a capability_violation and drops its nested writes', async () => {
    const strict = defineCapability({
      id: 'test.strict',
      version: 1,
      description: 'Writes, then invokes something it holds no grant for',
      args: z.strictObject({}),
      handler: async (_args, ctx) => {
        await ctx.invoke('kernel.state.put', { namespace: 'notes', key: 'a', value: 1 })
        return await ctx.invoke('kernel.state.delete', { namespace: 'notes', key: 'a' })
      }
    })
    const { kernel } = await createTestKernel({ descriptors: [strict] })
    await grant(kernel, 'agent', 'test.strict')
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, { id: 't1', capability: 'test.strict', args: {} })
    await kernel.runUntilIdle()
    expect(kernel.token('t1')?.state).toBe('failed')
    expect(eventPayloads(kernel, 'capability_violation', 't1')).toEqual([
      { reason: 'missing', code: 'GRANT_MISSING', detail: 'agent holds no grant for kernel.state.delete' }
    ])
    expect(kernel.state.get('kv/notes', 'a')).toBeUndefined()
  })

  it('charges the nested rate limit in the token\'s state', async () => {
    const { kernel } = await createTestKernel({ descriptors })
    await grant(kernel, 'agent', 'test.outer')
    await grant(kernel, 'agent', 'test.remote')
    const call = { capability: 'test.remote', args: { namespace: 'n' } }
    await submit(kernel, { id: 't1', capability: 'test.outer', args: { calls: [call, call, call] } })
    await kernel.runUntilIdle()
    expect((kernel.token('t1')?.result as Array<{ ok: boolean, code?: string }>).map(r => r.code ?? 'ok')).toEqual(['ok', 'ok', 'RATE_LIMITED'])
  })

  it('nested budget overruns stop the token', async () => {
    const { kernel } = await createTestKernel({ descriptors })
    await grant(kernel, 'agent', 'test.outer')
    await grant(kernel, 'agent', 'test.remote')
    await submit(kernel, { id: 't1', capability: 'test.outer', args: { calls: [{ capability: 'test.remote', args: { namespace: 'n' } }] }, budget: { tokens: 4 } })
    await kernel.runUntilIdle()
    expect(kernel.token('t1')?.state).toBe('failed')
    expect(eventPayloads(kernel, 'resource_budget_exceeded', 't1')).toEqual([{ kind: 'tokens', limit: 4, used: 6 }])
  })

  it('nests at most four deep', async () => {
    const { kernel } = await createTestKernel({ descriptors })
    await grant(kernel, 'agent', 'test.outer')
    let args: unknown = { calls: [] }
    for (let i = 0; i < 6; i++) args = { calls: [{ capability: 'test.outer', args }] }
    await submit(kernel, { id: 't1', capability: 'test.outer', args: args as { calls: [] } })
    await kernel.runUntilIdle()
    let result = kernel.token('t1')?.result as unknown
    let depth = 0
    while (Array.isArray(result) && (result[0] as { ok: boolean }).ok) {
      result = (result[0] as { value: unknown }).value
      depth++
    }
    expect(depth).toBe(4)
    expect(result).toEqual([{ ok: false, code: 'CAPABILITY_DENIED' }])
  })
})
