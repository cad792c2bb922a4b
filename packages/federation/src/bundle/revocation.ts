import { z } from 'zod'
import { canonicalize, hashCanonical, verify } from '@os2/crypto'
import type { Signer } from '@os2/crypto'
import type { ParseResult } from './federated-change.ts'

/** Largest encoded control bundle, bytes. */
export const MAX_CONTROL_BYTES = 4096

/**
 * A signed control bundle revoking a grant: signed by the grant's issuer, it
 * takes effect on every node that learns it (and is relayed onwards).
 */
export const RevocationSchema = z.strictObject({
  type: z.literal('revocation'),
  revocation_id: z.string().regex(/^[0-9a-f]{64}$/),
  grant_id: z.string().min(1).max(128),
  /** The grant version after revocation (previous version + 1). */
  version: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  /** Issuer's raw Ed25519 public key, base64url. */
  issuer: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  tick: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/)
})
export type Revocation = z.output<typeof RevocationSchema>

function body (r: Omit<Revocation, 'revocation_id' | 'signature'>): Record<string, unknown> {
  return { type: 'revocation', grant_id: r.grant_id, version: r.version, issuer: r.issuer, tick: r.tick }
}

/** Signs a revocation of `grantId` as `issuer`. */
export function signRevocation (fields: { grant_id: string, version: number, tick: number }, issuer: Signer): Revocation {
  const b = { type: 'revocation' as const, grant_id: fields.grant_id, version: fields.version, issuer: issuer.publicKey, tick: fields.tick }
  const revocation_id = hashCanonical(body(b))
  const signature = Buffer.from(issuer.sign(Buffer.from(canonicalize({ ...body(b), revocation_id }), 'utf8'))).toString('base64url')
  return { ...b, revocation_id, signature }
}

/** True when the id matches the content and the signature verifies against the embedded issuer key. */
export function verifyRevocation (r: Revocation): boolean {
  if (hashCanonical(body(r)) !== r.revocation_id) return false
  return verify(Buffer.from(canonicalize({ ...body(r), revocation_id: r.revocation_id }), 'utf8'), Buffer.from(r.signature, 'base64url'), r.issuer)
}

/** Parses untrusted bytes or a JSON value into a revocation; never throws. */
export function parseRevocation (input: Uint8Array | unknown): ParseResult<Revocation> {
  let json: unknown = input
  if (input instanceof Uint8Array) {
    if (input.length > MAX_CONTROL_BYTES) return { ok: false, reason: 'OVERSIZED', detail: `${input.length} bytes, limit ${MAX_CONTROL_BYTES}` }
    try {
      json = JSON.parse(Buffer.from(input).toString('utf8'))
    } catch {
      return { ok: false, reason: 'MALFORMED', detail: 'not JSON' }
    }
  }
  const parsed = RevocationSchema.safeParse(json)
  if (!parsed.success) return { ok: false, reason: 'MALFORMED', detail: parsed.error.issues.slice(0, 3).map(i => `${i.path.join('.')}: ${i.message}`).join('; ') }
  return { ok: true, value: parsed.data }
}
