import { describe, expect, it } from 'vitest'
import { canonicalize } from '@os2/crypto'
import { canonicalEqual } from '../src/canonical-equal.ts'
import { createSeededRng } from '../src/rng.ts'

function encodes (v: unknown): string | undefined {
  try { return canonicalize(v) } catch { return undefined }
}

function randomValue (n: (k: number) => number, depth = 0): unknown {
  const leaves: unknown[] = [0, -0, 1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, 'a', 'b', '', true, false, null, undefined]
  switch (n(depth > 2 ? 1 : 4)) {
    case 0: return leaves[n(leaves.length)]
    case 1: return Array.from({ length: n(3) }, () => randomValue(n, depth + 1))
    case 2: return n(8) === 0 ? new Date(0) : Object.fromEntries(Array.from({ length: n(3) }, () => [['x', 'y', 'z'][n(3)] as string, randomValue(n, depth + 1)]))
    default: return Object.fromEntries(Array.from({ length: n(3) }, () => [['x', 'y'][n(2)] as string, randomValue(n, depth + 1)]))
  }
}

describe('canonicalEqual()', () => {
  it('`canonicalEqual()` agrees with comparing canonical encodings for seeded random pairs', () => {
    const seed = Number(process.env.SEED ?? 5)
    const rng = createSeededRng(seed)
    const n = (k: number): number => rng.nextUint32() % k
    let equalPairs = 0
    for (let i = 0; i < 20_000; i++) {
      const a = randomValue(n)
      // Half the time compare with a structural copy (same encoding unless a refuses to encode).
      const b = n(2) === 0 ? randomValue(n) : (encodes(a) !== undefined ? JSON.parse(encodes(a) as string) as unknown : a)
      const ea = encodes(a)
      const expected = ea !== undefined && ea === encodes(b)
      if (expected) equalPairs++
      expect(canonicalEqual(a, b), `seed ${seed} pair ${i}: ${String(ea)} vs ${String(encodes(b))}`).toBe(expected)
    }
    expect(equalPairs).toBeGreaterThan(1000)
  })

  it('`canonicalEqual()` drops undefined members, equates -0 and 0, and refuses non-JSON values', () => {
    expect(canonicalEqual({ a: 1, b: undefined }, { a: 1 })).toBe(true)
    expect(canonicalEqual({ a: -0 }, { a: 0 })).toBe(true)
    expect(canonicalEqual({ a: 1 }, { a: 1, b: 2 })).toBe(false)
    expect(canonicalEqual([1, undefined], [1, undefined])).toBe(false)
    expect(canonicalEqual(Number.NaN, Number.NaN)).toBe(false)
    expect(canonicalEqual(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)).toBe(false)
    const d = new Date(0)
    expect(canonicalEqual(d, d)).toBe(false)
    expect(canonicalEqual({ x: 1n }, { x: 1n })).toBe(false)
  })
})
