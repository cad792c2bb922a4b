import { describe, expect, it } from 'vitest'
import { parseRevocation, signRevocation, verifyRevocation } from '../../src/bundle/revocation.ts'
import { identity, operator } from '../helpers.ts'

describe('revocation control bundles', () => {
  it('signRevocation() produces a revocation that verifies and parses back', () => {
    const r = signRevocation({ grant_id: 'g1', version: 2, tick: 9 }, operator)
    expect(verifyRevocation(r)).toBe(true)
    expect(parseRevocation(Buffer.from(JSON.stringify(r)))).toEqual({ ok: true, value: r })
  })

  it('verifyRevocation() fails when the grant id is altered or another key signed it', () => {
    const r = signRevocation({ grant_id: 'g1', version: 2, tick: 9 }, operator)
    expect(verifyRevocation({ ...r, grant_id: 'g2' })).toBe(false)
    const other = signRevocation({ grant_id: 'g1', version: 2, tick: 9 }, identity(3).keyPair)
    expect(verifyRevocation({ ...other, issuer: operator.publicKey })).toBe(false)
  })

  it('parseRevocation() rejects garbage as MALFORMED and big input as OVERSIZED', () => {
    expect(parseRevocation({ type: 'revocation' })).toMatchObject({ ok: false, reason: 'MALFORMED' })
    expect(parseRevocation(Buffer.from('xx'))).toMatchObject({ ok: false, reason: 'MALFORMED' })
    expect(parseRevocation(new Uint8Array(10_000))).toMatchObject({ ok: false, reason: 'OVERSIZED' })
  })
})
