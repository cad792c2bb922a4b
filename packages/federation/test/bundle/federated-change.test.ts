import { describe, expect, it } from 'vitest'
import { canonicalize } from '@os2/crypto'
import { bundleDigest, bundleIdOf, bundleUpdate, encodeFederatedChange, parseFederatedChange, signFederatedChange, signingBytes, verifyFederatedChange } from '../../src/bundle/federated-change.ts'
import { identity } from '../helpers.ts'

const a = identity(1)
const b = identity(2)
const draft = { origin: a.peerId, memory: 'kv:notes', seq: 1, update: new Uint8Array([1, 2, 3]), grant: { id: 'g1', version: 1 }, ledger_head: '0'.repeat(64), tick: 5 }

describe('FederatedChange bundles', () => {
  it('signFederatedChange() produces a bundle whose id and signature verify', () => {
    const bundle = signFederatedChange(draft, a.keyPair)
    expect(Object.keys(bundle).sort()).toEqual(['bundle_id', 'grant', 'ledger_head', 'memory', 'origin', 'seq', 'signature', 'tick', 'update'])
    expect(bundle.bundle_id).toBe(bundleIdOf(bundle))
    expect(verifyFederatedChange(bundle)).toBe(true)
    expect([...bundleUpdate(bundle)]).toEqual([1, 2, 3])
  })

  it('bundleDigest() gives the id and the exact signing bytes from one encoding, whatever the grant id holds', () => {
    for (const id of ['g1', 'a"b\\c', 'tick', ',"tick":1', 'é\u2028😀']) {
      const bundle = signFederatedChange({ ...draft, grant: { id, version: 3 } }, a.keyPair)
      const digest = bundleDigest(bundle)
      expect(digest.id).toBe(bundle.bundle_id)
      expect(digest.signing).toBe(Buffer.from(signingBytes(bundle)).toString('utf8'))
      expect(digest.signing).toBe(canonicalize({ ...bundle, signature: undefined }))
      expect(verifyFederatedChange(bundle, digest)).toBe(true)
    }
    // A digest of other content is ignored: the signing bytes are re-encoded from the bundle.
    const bundle = signFederatedChange(draft, a.keyPair)
    const other = bundleDigest({ ...bundle, tick: 99 })
    expect(verifyFederatedChange(bundle, other)).toBe(true)
    expect(verifyFederatedChange({ ...bundle, tick: 99 }, other)).toBe(false)
  })

  it('verifyFederatedChange() fails when any signed field changes', () => {
    const bundle = signFederatedChange(draft, a.keyPair)
    expect(verifyFederatedChange({ ...bundle, tick: 6 })).toBe(false)
    expect(verifyFederatedChange({ ...bundle, seq: 2 })).toBe(false)
    expect(verifyFederatedChange({ ...bundle, grant: { id: 'g1', version: 2 } })).toBe(false)
  })

  it('verifyFederatedChange() fails when signed by a key other than the origin', () => {
    const forged = signFederatedChange(draft, b.keyPair)
    expect(verifyFederatedChange(forged)).toBe(false)
    expect(verifyFederatedChange({ ...forged, origin: 'not-a-peer-id' })).toBe(false)
  })

  it('parseFederatedChange() round-trips encodeFederatedChange()', () => {
    const bundle = signFederatedChange(draft, a.keyPair)
    const parsed = parseFederatedChange(encodeFederatedChange(bundle))
    expect(parsed).toEqual({ ok: true, value: bundle })
  })

  it('parseFederatedChange() reports OVERSIZED before reading bytes past the limit', () => {
    expect(parseFederatedChange(new Uint8Array(2000), 1000)).toMatchObject({ ok: false, reason: 'OVERSIZED' })
  })

  it('parseFederatedChange() reports MALFORMED for garbage, extra fields and wrong types', () => {
    const bundle = signFederatedChange(draft, a.keyPair)
    const enc = (v: unknown): Uint8Array => Buffer.from(canonicalize(v))
    expect(parseFederatedChange(Buffer.from('{not json'))).toMatchObject({ ok: false, reason: 'MALFORMED' })
    expect(parseFederatedChange(enc({ ...bundle, extra: 1 }))).toMatchObject({ ok: false, reason: 'MALFORMED' })
    expect(parseFederatedChange(enc({ ...bundle, seq: 0 }))).toMatchObject({ ok: false, reason: 'MALFORMED' })
    expect(parseFederatedChange(enc({ ...bundle, seq: 1.5 }))).toMatchObject({ ok: false, reason: 'MALFORMED' })
    expect(parseFederatedChange(enc({ ...bundle, update: '%%%' }))).toMatchObject({ ok: false, reason: 'MALFORMED' })
    expect(parseFederatedChange(enc([1, 2]))).toMatchObject({ ok: false, reason: 'MALFORMED' })
  })
})
