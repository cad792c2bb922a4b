import { describe, expect, it } from 'vitest'
import { canonicalize } from '@os2/crypto'
import { canonicalByteLength } from '../src/canonical-size.ts'
import { utf8Length } from '../src/scheduler/token-run.ts'
import { createSeededRng } from '../src/rng.ts'

// Payload limits are checked against canonicalByteLength: it must be
// utf8Length(canonicalize(v)) exactly (a byte off would change which requests are refused).

const CHARS = ['a', 'Z', ' ', '"', '\\', '/', '\b', '\f', '\n', '\r', '\t', '\u0000', '\u001f', '\u007f', '\u0080', 'é', '\u07ff', '\u0800', '✓', '\u2028', '\u2029', '\uffff', '\ud83d\ude00', '\ud800', '\udfff', '\ud83d', 'x\udc00']

function randomString (n: (k: number) => number): string {
  let s = ''
  for (let i = n(8); i > 0; i--) s += CHARS[n(CHARS.length)] as string
  return s
}

function randomValue (n: (k: number) => number, depth = 0): unknown {
  const nums = [0, -0, 1, -1, 0.5, 1e21, 1e-7, -1.25e-300, 123456789, Number.MAX_SAFE_INTEGER, 2 ** 64]
  switch (n(depth > 3 ? 4 : 7)) {
    case 0: return randomString(n)
    case 1: return nums[n(nums.length)]
    case 2: return n(2) === 0
    case 3: return null
    case 4: return Array.from({ length: n(4) }, () => randomValue(n, depth + 1))
    case 5: return Object.fromEntries(Array.from({ length: n(4) }, () => [randomString(n), n(5) === 0 ? undefined : randomValue(n, depth + 1)]))
    default: return Object.create(null, { k: { value: randomValue(n, depth + 1), enumerable: true } }) as unknown
  }
}

describe('canonicalByteLength()', () => {
  it('`canonicalByteLength()` equals the UTF-8 length of the canonical encoding for seeded random values', () => {
    const seed = Number(process.env.SEED ?? 11)
    const rng = createSeededRng(seed)
    const n = (k: number): number => rng.nextUint32() % k
    for (let i = 0; i < 20_000; i++) {
      const v = randomValue(n)
      expect(canonicalByteLength(v), `seed ${seed} value ${i}: ${canonicalize(v)}`).toBe(utf8Length(canonicalize(v)))
    }
  })

  it('`canonicalByteLength()` throws what canonicalize throws for values that are not canonical JSON', () => {
    for (const bad of [Number.NaN, { a: [1, undefined] }, { d: new Date(0) }, { f: Number.NEGATIVE_INFINITY }, 1n, undefined]) {
      const message = (() => { try { canonicalize(bad); return 'no error' } catch (err) { return (err as Error).message } })()
      expect(message).not.toBe('no error')
      expect(() => canonicalByteLength(bad)).toThrow(message)
    }
  })
})
