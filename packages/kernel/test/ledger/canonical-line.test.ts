import { describe, expect, it } from 'vitest'
import { canonicalize, sha256Hex, ZERO_HASH } from '@os2/crypto'
import { ChainVerifier } from '../../src/ledger/index.ts'
import { isCanonicalLine, lineBodyHash } from '../../src/ledger/canonical-line.mjs'
import { encodeEnvelopeBody, spliceHash } from '../../src/ledger/envelope.ts'
import type { EventEnvelope } from '../../src/ledger/index.ts'

/** A stored line for an event with `payload` at seq 0. */
function lineFor (payload: Record<string, unknown>): { line: string, envelope: EventEnvelope } {
  const body = { event_id: 'ev-0', seq: 0, tick: 0, type: 'custom', capability_id: null, token_id: null, payload, prev_hash: ZERO_HASH } as Omit<EventEnvelope, 'hash'>
  const bodyText = encodeEnvelopeBody(body, true)
  const hash = sha256Hex(bodyText)
  return { line: spliceHash(bodyText, hash), envelope: { ...body, hash } as EventEnvelope }
}

describe('isCanonicalLine', () => {
  it('recognises canonical lines, nested objects and arrays included', () => {
    for (const payload of [{}, { a: 1, b: [1, { c: 'x', d: null }], e: true }, { text: 'é ü \u2028 "q" \\ \n' }, { n: 1e21, m: 0.1, k: -5 }]) {
      const { line } = lineFor(payload)
      expect(line).toBe(canonicalize(JSON.parse(line)))
      expect(isCanonicalLine(line, JSON.parse(line))).toBe(true)
    }
  })

  it('refuses every non-canonical spelling of the same value', () => {
    const { line } = lineFor({ a: 1, b: 'x' })
    const variants = [
      line.replace('"a":1', '"a":1.0'),
      line.replace('"a":1', '"a": 1'),
      line.replace('"b":"x"', '"b":"\\u0078"'),
      line.replace('"a":1,"b":"x"', '"b":"x","a":1'),
      line.replace('"a":1', '"a":1e0'),
      ` ${line}`
    ]
    for (const v of variants) {
      expect(JSON.parse(v)).toEqual(JSON.parse(line))
      expect(isCanonicalLine(v, JSON.parse(v))).toBe(false)
    }
  })

  it('leaves integer-like member names (which V8 reorders) to the exact path', () => {
    const { line } = lineFor({ 10: 'a', 9: 'b' })
    expect(line).toContain('"10":"a","9":"b"')
    expect(isCanonicalLine(line, JSON.parse(line))).toBe(false)
    // ...and the verifier still accepts the line, through the exact path.
    const v = new ChainVerifier()
    expect(v.pushLine(line)).toBeDefined()
    expect(v.result().ok).toBe(true)
  })
})

describe('lineBodyHash', () => {
  it('hashes the canonical body: the line without its hash member', () => {
    const { line, envelope } = lineFor({ hash: 'not the envelope hash', x: 1 })
    expect(lineBodyHash(line, envelope.hash)).toBe(envelope.hash)
    expect(lineBodyHash(line, '0'.repeat(64))).toBeUndefined()
  })
})

describe('ChainVerifier.pushLine on the fast path', () => {
  it('reports the same failure as the exact path for each kind of tampered line', () => {
    const { line, envelope } = lineFor({ a: 1 })
    const cases: Array<[string, string]> = [
      [line.replace('"a":1', '"a":2'), 'hash_mismatch'],
      [line.replace('"a":1', '"a":1.0'), 'unparsable'],
      [line.replace('"seq":0', '"seq":1'), 'seq_mismatch'],
      [line.replace(`"prev_hash":"${ZERO_HASH}"`, `"prev_hash":"${'1'.repeat(64)}"`), 'hash_mismatch'],
      [line.replace(envelope.hash, '0'.repeat(64)), 'hash_mismatch']
    ]
    for (const [tampered, reason] of cases) {
      const v = new ChainVerifier()
      expect(v.pushLine(tampered)).toBeUndefined()
      expect(v.result()).toMatchObject({ ok: false, firstBadSeq: 0, reason })
    }
  })
})
