import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import type { z } from 'zod'
import { KernelRequest } from '../../src/protocol/schemas.ts'
import { quickSubmitToken } from '../../src/protocol/quick-parse.ts'
import { emit, stateDelete, stateGet, statePut } from '../../src/capabilities/builtins.ts'

// Values at and around every limit the schemas set, and of every wrong type.
const odd = fc.constantFrom<unknown>(undefined, null, 0, -1, 1.5, -0, 1000, 1001, NaN, Infinity, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 1,
  '', 'a', 'ns0', 'kernel.state.put', 'Kernel.X', 'a b', 'x'.repeat(64), 'x'.repeat(65), 'x'.repeat(128), 'x'.repeat(129), 'x'.repeat(512), 'x'.repeat(513),
  'é', '\u0000', true, [], ['t1'], {}, { a: 1 }, Object.create(null) as object, new Date(0), [undefined])
/** Mostly `arb`, now and then an odd value. */
const mostly = (arb: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> => fc.oneof({ weight: 12, arbitrary: arb }, { weight: 1, arbitrary: odd })
const id = mostly(fc.oneof(fc.constantFrom('t1', 'agent-a', 'a.b:c@d', 'x'.repeat(128)), fc.stringMatching(/^[A-Za-z0-9._:@-]{1,12}$/)))
const json = mostly(fc.jsonValue({ maxDepth: 3 }))
/** Short strings, and strings at every length limit the schemas set (and one past it). */
const text = mostly(fc.oneof(fc.string({ maxLength: 6 }), fc.constantFrom(0, 1, 63, 64, 65, 127, 128, 129, 511, 512, 513).map(n => 'x'.repeat(n))))

/** A record from `fields`, each member sometimes left out, sometimes an odd value, sometimes joined by an unknown member. */
function recordOf (fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const members = Object.entries(fields).map(([k, arb]) => fc.oneof(
    { weight: 30, arbitrary: arb.map(v => [k, v] as const) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    { weight: 1, arbitrary: odd.map(v => [k, v] as const) }
  ))
  const extraMember = fc.oneof({ weight: 12, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('extra', '__proto__', 'constructor') })
  return fc.tuple(fc.tuple(...members), extraMember, fc.boolean())
    .map(([entries, extra, nullProto]) => {
      const out: Record<string, unknown> = nullProto ? Object.create(null) as Record<string, unknown> : {}
      for (const e of entries) if (e !== undefined) out[e[0]] = e[1]
      if (extra !== null) Object.defineProperty(out, extra, { value: 1, enumerable: true, writable: true, configurable: true })
      return out
    })
}

const budget = recordOf({ tokens: fc.nat(), memory: fc.nat(), network: fc.nat(), wallClockMs: fc.nat() })
const token = recordOf({
  id,
  capability: mostly(fc.constantFrom('kernel.state.put', 'kernel.emit', 'a', 'a1.b2.c3')),
  args: json,
  priority: mostly(fc.integer({ min: 0, max: 1000 })),
  after: mostly(fc.oneof({ weight: 8, arbitrary: fc.array(id, { maxLength: 3 }) }, { weight: 1, arbitrary: fc.constant(Array.from({ length: 64 }, (_, i) => `t${i}`)) }, { weight: 1, arbitrary: fc.constant(Array.from({ length: 65 }, (_, i) => `t${i}`)) })),
  budget: mostly(budget),
  principal: id,
  tag: text
})
const submit = recordOf({ type: mostly(fc.constantFrom('SubmitToken', 'SubmitToken', 'CancelToken')), from: id, token: mostly(token) })

const keyArgs = recordOf({ namespace: id, key: text })
const putArgs = recordOf({ namespace: id, key: text, value: json })
const emitArgs = recordOf({ name: text, data: json })

/** Whenever `quick` answers, zod accepts the same input and gives the same output (members, values, order). */
function agreesWithZod (quick: (input: unknown) => unknown, schema: z.ZodType, inputs: fc.Arbitrary<unknown>): { answered: number, zodValid: number } {
  const seen = { answered: 0, zodValid: 0 }
  fc.assert(fc.property(inputs, input => {
    const fast = quick(input)
    const slow = schema.safeParse(input)
    if (slow.success) seen.zodValid++
    if (fast === undefined) return
    seen.answered++
    expect(slow.success).toBe(true)
    expect(fast).toStrictEqual(slow.data)
    expect(JSON.stringify(fast)).toBe(JSON.stringify(slow.data))
  }), { numRuns: 3000 })
  return seen
}

describe('quick parsers agree with their zod schemas', () => {
  it('quickSubmitToken ⊆ KernelRequest, and it answers most valid submissions', () => {
    const { answered, zodValid } = agreesWithZod(quickSubmitToken, KernelRequest, submit)
    expect(zodValid).toBeGreaterThan(300)
    expect(answered).toBeGreaterThan(zodValid * 0.5)
  })

  for (const [name, descriptor, inputs] of [['kernel.state.get', stateGet, keyArgs], ['kernel.state.delete', stateDelete, keyArgs], ['kernel.state.put', statePut, putArgs], ['kernel.emit', emit, emitArgs]] as const) {
    it(`${name}: quickArgs ⊆ args, and it answers most valid arguments`, () => {
      const quick = descriptor.quickArgs
      expect(quick).toBeDefined()
      const { answered, zodValid } = agreesWithZod(quick as (input: unknown) => unknown, descriptor.args, inputs)
      expect(zodValid).toBeGreaterThan(300)
      expect(answered).toBeGreaterThan(zodValid * 0.5)
    })
  }

  it('answers the submissions agents send most (so replay takes the fast path)', () => {
    const request = { type: 'SubmitToken', token: { id: 't7', capability: 'kernel.state.put', args: { namespace: 'ns1', key: 'k1', value: { i: 1, tags: ['x'] } }, principal: 'agent-a', priority: 3 } }
    const parsed = quickSubmitToken(request)
    expect(parsed).toStrictEqual(KernelRequest.parse(request))
    expect(statePut.quickArgs?.(request.token.args)).toStrictEqual(statePut.args.parse(request.token.args))
    expect(stateGet.quickArgs?.({ namespace: 'ns1', key: 'k1' })).toStrictEqual({ namespace: 'ns1', key: 'k1' })
    expect(emit.quickArgs?.({ name: 'progress', data: { i: 1 } })).toStrictEqual({ name: 'progress', data: { i: 1 } })
  })
})
