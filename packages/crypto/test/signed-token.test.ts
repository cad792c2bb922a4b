import { SignJWT } from 'jose'
import { createSecretKey } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { generateKeyPair, keyPairFromSeed, signToken, verifyToken, CryptoError } from '../src/index.ts'
import type { Signer } from '../src/index.ts'

const kp = keyPairFromSeed(new Uint8Array(32).fill(1))
const claims = { sub: 'snapshot-1', head: 'ab'.repeat(32), seq: 12 }

async function expectInvalid (p: Promise<unknown>): Promise<void> {
  const err = await p.then(() => undefined, (e: unknown) => e)
  expect(err).toBeInstanceOf(CryptoError)
  expect((err as CryptoError).code).toBe('TOKEN_INVALID')
}

function replacePart (token: string, index: number, f: (part: string) => string): string {
  const parts = token.split('.')
  parts[index] = f(parts[index] as string)
  return parts.join('.')
}

describe('signToken()', () => {
  it('produces a compact EdDSA JWS whose claims verifyToken() returns', async () => {
    const token = await signToken(claims, kp)
    expect(token.split('.')).toHaveLength(3)
    const header = JSON.parse(Buffer.from(token.split('.')[0] as string, 'base64url').toString()) as Record<string, unknown>
    expect(header).toEqual({ alg: 'EdDSA', kid: kp.keyId, typ: 'JWT' })
    expect(await verifyToken(token, kp.publicKey)).toEqual(claims)
  })

  it('is deterministic and adds no wall-clock claims', async () => {
    const a = await signToken({ b: 1, a: 2 }, kp)
    const b = await signToken({ a: 2, b: 1 }, kp)
    expect(a).toBe(b)
    expect(Object.keys(await verifyToken(a, kp.publicKey)).sort()).toEqual(['a', 'b'])
  })

  it('gives the same token through a bare Signer as through the key pair', async () => {
    const bare: Signer = { publicKey: kp.publicKey, keyId: kp.keyId, sign: d => kp.sign(d) }
    expect(await signToken(claims, bare)).toBe(await signToken(claims, kp))
  })

  it('accepts a raw private KeyObject', async () => {
    const token = await signToken(claims, kp.privateKey)
    expect(await verifyToken(token, kp.publicKey)).toEqual(claims)
  })
})

describe('verifyToken()', () => {
  it('throws TOKEN_INVALID when the payload is tampered', async () => {
    const token = await signToken(claims, kp)
    const forged = replacePart(token, 1, () => Buffer.from(JSON.stringify({ ...claims, seq: 13 })).toString('base64url'))
    await expectInvalid(verifyToken(forged, kp.publicKey))
  })

  it('throws TOKEN_INVALID when any signature character changes', async () => {
    const token = await signToken(claims, kp)
    const sig = token.split('.')[2] as string
    for (let i = 0; i < sig.length - 1; i += 7) {
      const forged = replacePart(token, 2, s => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1))
      await expectInvalid(verifyToken(forged, kp.publicKey))
    }
  })

  it('throws TOKEN_INVALID for the wrong key', async () => {
    const token = await signToken(claims, kp)
    await expectInvalid(verifyToken(token, generateKeyPair().publicKey))
    await expectInvalid(verifyToken(token, 'not a key'))
  })

  it('throws TOKEN_INVALID for any algorithm other than EdDSA', async () => {
    const hs = await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(createSecretKey(Buffer.from(kp.publicKeyBytes)))
    await expectInvalid(verifyToken(hs, kp.publicKey))
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`
    await expectInvalid(verifyToken(none, kp.publicKey))
    // The header swapped to another algorithm over a valid EdDSA signature.
    const token = await signToken(claims, kp)
    const swapped = replacePart(token, 0, () => Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url'))
    await expectInvalid(verifyToken(swapped, kp.publicKey))
  })

  it('throws TOKEN_INVALID for malformed tokens', async () => {
    await expectInvalid(verifyToken('', kp.publicKey))
    await expectInvalid(verifyToken('a.b', kp.publicKey))
    await expectInvalid(verifyToken('a.b.c.d', kp.publicKey))
  })
})
