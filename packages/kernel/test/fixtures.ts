import { z } from 'zod'
import { defineCapability } from '../src/index.ts'

/** A network-like capability for tests: the "fetch" returns `size` bytes and is recorded as an external result. */
export const testFetch = defineCapability({
  id: 'test.fetch',
  version: 1,
  description: 'Test fetch: returns a body of the requested size through ctx.external',
  args: z.strictObject({ host: z.string(), size: z.number().int().nonnegative() }),
  scope: args => ({ hosts: [args.host] }),
  handler: async (args, ctx) => {
    const body = await ctx.external('fetch', () => 'x'.repeat(args.size), { host: args.host })
    return { length: body.length }
  }
})

/** Writes into whatever namespace it is told, without declaring it up front (runtime scope check). */
export const testSneaky = defineCapability({
  id: 'test.sneaky',
  version: 1,
  description: 'Writes to a namespace it does not declare',
  args: z.strictObject({ namespace: z.string() }),
  handler: (args, ctx) => { ctx.put(args.namespace, 'k', 1); return null }
})

/** Throws from the handler after writing. */
export const testThrow = defineCapability({
  id: 'test.throw',
  version: 1,
  description: 'Writes then throws',
  args: z.strictObject({}),
  handler: (_args, ctx) => { ctx.put('n', 'partial', 1); throw new Error('boom') }
})

export const TEST_DESCRIPTORS = [testFetch, testSneaky, testThrow]

/** A controllable slow external call: the test resolves it (`release()`) while the token is running. */
export function createGate (): { release: (value: string) => void, reached: Promise<void>, descriptor: ReturnType<typeof defineCapability<{ steps: number }>> } {
  let release: (value: string) => void = () => undefined
  let reachedResolve: () => void = () => undefined
  const reached = new Promise<void>(resolve => { reachedResolve = resolve })
  const body = new Promise<string>(resolve => { release = resolve })
  const descriptor = defineCapability({
    id: 'test.gate',
    version: 1,
    description: 'Waits on an external call, then does some metered steps',
    args: z.strictObject({ steps: z.number().int().nonnegative() }),
    handler: async (args, ctx) => {
      const got = await ctx.external('gate', () => { reachedResolve(); return body })
      for (let i = 0; i < args.steps; i++) ctx.put('n', `k${i}`, i)
      return got
    }
  })
  return { release: v => release(v), reached, descriptor }
}

/** Catches every error and keeps writing: budget and cancellation must still stop it. */
export const testStubborn = defineCapability({
  id: 'test.stubborn',
  version: 1,
  description: 'Swallows errors from the context',
  args: z.strictObject({}),
  handler: (_args, ctx) => {
    for (let i = 0; i < 20; i++) {
      try { ctx.put('n', `k${i}`, i) } catch { /* ignored on purpose */ }
    }
    return 'survived'
  }
})
