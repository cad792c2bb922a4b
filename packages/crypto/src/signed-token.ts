import { CompactSign, compactVerify } from 'jose'
import { KeyObject } from 'node:crypto'
import { canonicalBytes, canonicalize } from './canonical.ts'
import { CryptoError } from './errors.ts'
import { importPublicKey } from './keys.ts'
import type { Signer, KeyPair } from './keys.ts'

/** Claims of a signed token: any canonical JSON object. No claim is added implicitly (no wall-clock `iat`). */
export type TokenClaims = Record<string, unknown>

/** The protected header every OS2 token carries. */
export interface TokenHeader {
  alg: 'EdDSA'
  typ: 'JWT'
  kid?: string
}

const TOKEN_ALGORITHMS = ['EdDSA']

function isKeyPair (s: Signer): s is KeyPair {
  return (s as Partial<KeyPair>).privateKey instanceof KeyObject
}

/**
 * Signs `claims` as a compact JWS (RFC 7515, `alg: EdDSA`, Ed25519). The payload
 * is the canonical JSON of `claims`, so the same claims and key always give the
 * same token. `kid` is the signer's key id.
 *
 * @throws CryptoError `KEY_INVALID` for a key that is not an Ed25519 private key,
 * `CANONICAL_UNSUPPORTED_VALUE` for claims that are not canonical JSON
 * @example
 * const token = await signToken({ snapshot: id, head }, nodeKey)
 * const claims = await verifyToken(token, nodeKey.publicKey)
 */
export async function signToken (claims: TokenClaims, key: Signer | KeyObject): Promise<string> {
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new TypeError('Cannot sign token: claims must be a plain object')
  }
  const payload = canonicalBytes(claims)
  if (key instanceof KeyObject) {
    if (key.type !== 'private' || key.asymmetricKeyType !== 'ed25519') {
      throw new CryptoError('KEY_INVALID', 'Cannot sign token: expected an Ed25519 private key')
    }
    return await new CompactSign(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' }).sign(key)
  }
  const header: TokenHeader = { alg: 'EdDSA', kid: key.keyId, typ: 'JWT' }
  if (isKeyPair(key)) {
    // Keys are sorted, so jose's JSON.stringify of the header is its canonical form.
    return await new CompactSign(payload).setProtectedHeader({ ...header }).sign(key.privateKey)
  }
  // A bare Signer (e.g. a key held elsewhere): assemble the identical compact serialization.
  const signingInput = `${Buffer.from(canonicalize(header)).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`
  const signature = key.sign(Buffer.from(signingInput))
  return `${signingInput}.${Buffer.from(signature).toString('base64url')}`
}

/**
 * Verifies a compact JWS made by `signToken` and returns its claims. Only
 * `EdDSA` is accepted; exp/nbf are not checked against wall time (OS2 time is ticks:
 * the caller checks its own claims).
 *
 * @throws CryptoError `TOKEN_INVALID` for a malformed token, a tampered header,
 * payload or signature, a wrong key or any other algorithm
 */
export async function verifyToken (token: string, publicKey: string | Uint8Array | KeyObject): Promise<TokenClaims> {
  let key: KeyObject
  try {
    key = importPublicKey(publicKey)
  } catch (err) {
    throw new CryptoError('TOKEN_INVALID', 'Cannot verify token: the public key is not an Ed25519 key', { cause: err })
  }
  if (typeof token !== 'string') throw new CryptoError('TOKEN_INVALID', 'Cannot verify token: not a string')
  let payload: Uint8Array
  try {
    const result = await compactVerify(token, key, { algorithms: TOKEN_ALGORITHMS })
    payload = result.payload
  } catch (err) {
    throw new CryptoError('TOKEN_INVALID', `Cannot verify token: ${describe(err)}`, { cause: err })
  }
  let claims: unknown
  try {
    claims = JSON.parse(Buffer.from(payload).toString('utf8'))
  } catch (err) {
    throw new CryptoError('TOKEN_INVALID', 'Cannot verify token: payload is not JSON', { cause: err })
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new CryptoError('TOKEN_INVALID', 'Cannot verify token: payload is not a JSON object')
  }
  return claims as TokenClaims
}

function describe (err: unknown): string {
  const code = (err as { code?: unknown }).code
  if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED') return 'signature does not verify'
  if (code === 'ERR_JOSE_ALG_NOT_ALLOWED') return 'algorithm is not EdDSA'
  if (code === 'ERR_JWS_INVALID') return 'not a valid compact JWS'
  return err instanceof Error ? err.message.replace(/\.$/, '') : 'unknown error'
}
