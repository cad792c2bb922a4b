import { describe, expect, it } from 'vitest'
import { replayLedger } from '../../src/index.ts'
import { isJsonValue, jsonValue, MAX_JSON_DEPTH } from '../../src/protocol/json-value.ts'
import { createTestKernel, grant, submit } from '../../src/testing/index.ts'

function nested (depth: number): unknown {
  let v: unknown = 1
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? [v] : { v }
  return v
}

describe('jsonValue', () => {
  it('accepts what the canonical encoder accepts', () => {
    for (const v of [null, true, 0, -1.5, 'x', [], {}, [1, 'a', null, { b: [false] }], Object.create(null) as object, { a: undefined, b: 1 }, nested(MAX_JSON_DEPTH)]) {
      expect(isJsonValue(v)).toBe(true)
      expect(jsonValue().safeParse(v).success).toBe(true)
    }
  })

  it('refuses what it does not: non-finite numbers, holes, non-plain objects, functions, bigints, runaway depth', () => {
    class Point { x = 1 }
    const refused: unknown[] = [Number.NaN, Infinity, -Infinity, undefined, [undefined], [1, Number.NaN], { a: { b: Infinity } }, new Date(0), new Map(), new Point(), () => 1, 1n, Symbol('s'), nested(MAX_JSON_DEPTH + 1)]
    for (const v of refused) {
      expect(isJsonValue(v)).toBe(false)
      const parsed = jsonValue().safeParse(v)
      expect(parsed.success).toBe(false)
      expect(parsed.error?.issues[0]?.message).toMatch(/must be a JSON value/)
    }
  })

  it('returns the value itself, not a copy', () => {
    const v = { a: [1, 2] }
    expect(jsonValue().parse(v)).toBe(v)
  })

  it('an undefined member is judged alike live and on replay (the recorded request has it dropped)', async () => {
    const { kernel, genesis } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    const r = await submit(kernel, { id: 'u', capability: 'kernel.state.put', args: { namespace: 'n', key: 'k', value: { a: undefined, b: 1 } } })
    expect(r.disposition).toBe('queued')
    await kernel.runUntilIdle()
    expect(kernel.kv('n')).toEqual([{ namespace: 'n', key: 'k', value: { a: undefined, b: 1 } }])
    const outcome = await replayLedger([...kernel.ledger.events()], { genesis })
    expect(outcome).toMatchObject({ ok: true, head: kernel.ledger.head })
  })
})
