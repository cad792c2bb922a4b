import { describe, expect, it } from 'vitest'
import { canonicalize } from '@os2/crypto'
import { encodeEnvelopeBody, hasExactEnvelopeKeys } from '../../src/ledger/envelope.ts'
import type { EventEnvelope } from '../../src/ledger/types.ts'
import { createSeededRng } from '../../src/rng.ts'

// The ledger, its verifier and replay encode envelopes with `encodeEnvelopeBody`;
// it must be `canonicalize(envelope without hash)` byte for byte, errors included.

function generic (e: Record<string, unknown>): string {
  const { hash: _hash, ...body } = e
  return canonicalize(body)
}

function envelope (seed: number): Record<string, unknown> {
  const rng = createSeededRng(seed)
  const n = (k: number): number => rng.nextUint32() % k
  const strs = ['', 'a', 'é ✓', '\u2028\u2029', '"quoted"\\', '\ud83d\ude00', 'k'.repeat(n(50)), '\u0000\u001f']
  const str = (): string => strs[n(strs.length)] as string
  const nums = [0, -0, 1, -1, 1.5, 1e21, 1e-7, Number.MAX_SAFE_INTEGER, 2 ** 60, 0.1 + 0.2]
  const value = (depth: number): unknown => {
    switch (n(depth > 2 ? 4 : 6)) {
      case 0: return str()
      case 1: return nums[n(nums.length)]
      case 2: return n(2) === 0 ? null : n(2) === 0
      case 3: return undefined
      case 4: return Array.from({ length: n(4) }, () => value(depth + 1) ?? null)
      default: return Object.fromEntries(Array.from({ length: n(5) }, () => [str() + String(n(9)), value(depth + 1)]))
    }
  }
  return {
    event_id: `ev-${n(1000)}`,
    seq: n(3) === 0 ? -0 : n(100_000),
    tick: n(1_000_000),
    type: str(),
    capability_id: n(3) === 0 ? null : str(),
    token_id: n(3) === 0 ? null : str(),
    payload: Object.fromEntries(Array.from({ length: n(6) }, () => [str() + String(n(9)), value(0)])),
    prev_hash: 'f'.repeat(64),
    hash: n(2) === 0 ? undefined : 'a'.repeat(64)
  }
}

describe('encodeEnvelopeBody()', () => {
  it('`encodeEnvelopeBody()` equals canonicalize of the envelope without hash for seeded random envelopes', () => {
    for (let seed = 0; seed < 2000; seed++) {
      const e = envelope(seed)
      expect(encodeEnvelopeBody(e as unknown as EventEnvelope, hasExactEnvelopeKeys(e)), `seed ${seed}`).toBe(generic(e))
      expect(encodeEnvelopeBody(e as unknown as EventEnvelope, true), `seed ${seed}`).toBe(generic(e))
    }
  })

  it('`encodeEnvelopeBody()` takes the generic path for extra keys, odd field types and undefined fields', () => {
    const base = envelope(7)
    const odd: Array<Record<string, unknown>> = [
      { ...base, extra: 1 },
      { ...base, capability_id: 5 },
      { ...base, token_id: undefined },
      { ...base, seq: '3' },
      { ...base, payload: [1, 2] },
      { ...base, payload: undefined }
    ]
    for (const e of odd) expect(encodeEnvelopeBody(e as unknown as EventEnvelope, hasExactEnvelopeKeys(e))).toBe(generic(e))
  })

  it('`encodeEnvelopeBody()` throws the same error as canonicalize for values that are not canonical JSON', () => {
    const bad: Array<Record<string, unknown>> = [
      { ...envelope(1), payload: { x: Number.NaN } },
      { ...envelope(2), payload: { d: new Date(0) } },
      { ...envelope(3), tick: Number.POSITIVE_INFINITY },
      { ...envelope(4), payload: { a: [1, undefined] } }
    ]
    for (const e of bad) {
      const expected = (() => { try { generic(e); return 'no error' } catch (err) { return (err as Error).message } })()
      expect(expected).not.toBe('no error')
      expect(() => encodeEnvelopeBody(e as unknown as EventEnvelope, true)).toThrow(expected)
    }
  })
})
