import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { hashKey, PersistentMap } from '../../src/state/persistent-map.ts'

/** Pairs of distinct keys with equal 32-bit hashes (found by brute force: ~1 in 2^32 per pair, so a few among 300k keys). */
function collidingKeys (): string[] {
  const seen = new Map<number, string>()
  const out: string[] = []
  for (let i = 0; out.length < 6 && i < 2_000_000; i++) {
    const key = `c${i}`
    const h = hashKey(key)
    const other = seen.get(h)
    if (other !== undefined) out.push(other, key)
    else seen.set(h, key)
  }
  return out
}

const COLLIDING = collidingKeys()
// Few distinct short keys (so sets and deletes hit the same entries and fragments collide at every level), plus full-hash collisions.
const KEYS = [...Array.from({ length: 40 }, (_, i) => `k${i}`), '', 'token', 't1', 'ns0', ...COLLIDING]

type Op = { kind: 'set', key: string, value: number } | { kind: 'delete', key: string } | { kind: 'batch', ops: Array<[string, number | undefined]> }

const keyArb = fc.constantFrom(...KEYS)
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), key: keyArb, value: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('batch' as const), ops: fc.array(fc.tuple(keyArb, fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined })), { maxLength: 30 }) }) }
)

function sortedEntries (m: PersistentMap<number>): Array<[string, number]> {
  return [...m].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
}

function expectSame (m: PersistentMap<number>, model: Map<string, number>): void {
  expect(m.size).toBe(model.size)
  for (const key of KEYS) {
    expect(m.get(key)).toBe(model.get(key))
    expect(m.has(key)).toBe(model.has(key))
  }
  expect(sortedEntries(m)).toEqual([...model].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)))
  expect([...m.keys()].sort()).toEqual([...model.keys()].sort())
}

describe('PersistentMap', () => {
  it('the brute-force search found keys whose 32-bit hashes are equal (so collision nodes are exercised)', () => {
    expect(COLLIDING.length).toBe(6)
    for (let i = 0; i < COLLIDING.length; i += 2) expect(hashKey(COLLIDING[i] as string)).toBe(hashKey(COLLIDING[i + 1] as string))
  })

  it('behaves like a Map under random sets, deletes and transient batches, and every older version stays as it was', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 120 }), ops => {
      let m = PersistentMap.empty<number>()
      const model = new Map<string, number>()
      const versions: Array<[PersistentMap<number>, Map<string, number>]> = [[m, new Map(model)]]
      for (const op of ops) {
        if (op.kind === 'set') {
          m = m.set(op.key, op.value)
          model.set(op.key, op.value)
        } else if (op.kind === 'delete') {
          m = m.delete(op.key)
          model.delete(op.key)
        } else {
          const t = m.asTransient()
          for (const [k, v] of op.ops) { if (v === undefined) t.delete(k); else t.set(k, v) }
          m = t.persistent()
          for (const [k, v] of op.ops) { if (v === undefined) model.delete(k); else model.set(k, v) }
        }
        expectSame(m, model)
        versions.push([m, new Map(model)])
      }
      for (const [version, snapshot] of versions) expectSame(version, snapshot)
    }), { numRuns: 300 })
  })

  it('iterates in an order that depends only on the contents, not on the history that built them', () => {
    fc.assert(fc.property(fc.shuffledSubarray(KEYS), fc.shuffledSubarray(KEYS), (a, extra) => {
      let one = PersistentMap.empty<number>()
      for (const k of a) one = one.set(k, 1)
      // The same contents by another route: different insertion order, with detours through extra keys that are deleted again.
      let two = PersistentMap.empty<number>()
      for (const k of [...extra, ...[...a].reverse()]) two = two.set(k, 1)
      for (const k of extra) if (!a.includes(k)) two = two.delete(k)
      expect([...two.keys()]).toEqual([...one.keys()])
    }), { numRuns: 200 })
  })

  it('finds entries in a collision node even when a value there equals another key', () => {
    const [a, b] = COLLIDING as [string, string]
    const m = PersistentMap.empty<string>().set(a, b).set(b, a)
    expect(m.get(a)).toBe(b)
    expect(m.get(b)).toBe(a)
    const left = m.delete(b)
    expect(left.get(a)).toBe(b)
    expect(left.get(b)).toBeUndefined()
    expect(left.size).toBe(1)
  })

  it('returns the same map for a write that changes nothing, and the shared empty map when emptied', () => {
    const m = PersistentMap.empty<number>().set('a', 1)
    expect(m.set('a', 1)).toBe(m)
    expect(m.delete('b')).toBe(m)
    expect(m.delete('a')).toBe(PersistentMap.empty())
  })

  it('a transient builds a big map that later writes do not disturb', () => {
    const t = PersistentMap.empty<number>().asTransient()
    for (let i = 0; i < 20_000; i++) t.set(`key${i}`, i)
    const big = t.persistent()
    expect(big.size).toBe(20_000)
    const changed = big.set('key7', -1).delete('key8')
    expect(big.get('key7')).toBe(7)
    expect(big.get('key8')).toBe(8)
    expect(changed.get('key7')).toBe(-1)
    expect(changed.has('key8')).toBe(false)
    expect(changed.size).toBe(19_999)
    let sum = 0
    for (const [, v] of big) sum += v
    expect(sum).toBe((20_000 * 19_999) / 2)
  })

  it('refuses a transient used after it ended (its nodes are shared from then on)', () => {
    const t = PersistentMap.empty<number>().asTransient()
    t.set('a', 1)
    const m = t.persistent()
    expect(() => { t.set('b', 2) }).toThrow(/after it ended/)
    expect(() => { t.delete('a') }).toThrow(/after it ended/)
    expect(m.has('b')).toBe(false)
    expect(m.get('a')).toBe(1)
  })
})
