import { z } from 'zod'
import { canonicalize, importPublicKey, sha256Hex, verify } from '@os2/crypto'
import type { Signer } from '@os2/crypto'
import { FederationError } from '../errors.ts'
import { publicKeyOfPeer } from '../identity.ts'

/** Largest encoded bundle accepted from the network, bytes. */
export const DEFAULT_MAX_BUNDLE_BYTES = 4 * 1024 * 1024

const Hex64 = z.string().regex(/^[0-9a-f]{64}$/)
const Base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/)

/** The grant a bundle relies on: its id and the version the origin held when signing. */
export const GrantRef = z.strictObject({
  id: z.string().min(1).max(128),
  version: z.int().min(0).max(Number.MAX_SAFE_INTEGER)
})

/** Strict schema of a `FederatedChange` as it arrives from the network. */
export const FederatedChangeSchema = z.strictObject({
  bundle_id: Hex64,
  origin: z.string().min(1).max(128),
  memory: z.string().min(3).max(140),
  seq: z.int().min(1).max(Number.MAX_SAFE_INTEGER),
  update: Base64,
  grant: GrantRef,
  ledger_head: Hex64,
  tick: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  signature: z.string().regex(/^[A-Za-z0-9_-]{86}$/)
})

/**
 * One signed change crossing a node boundary (DESIGN.md, Federation):
 * `bundle_id` = canonical hash of every other field but `signature`;
 * `signature` = Ed25519 by `origin`'s key over the canonical encoding of every
 * other field; `update` = base64 Yjs update; `seq` gap-free per origin.
 */
export type FederatedChange = z.output<typeof FederatedChangeSchema>

/** What the origin fills in; id and signature are computed. */
export interface FederatedChangeDraft {
  origin: string
  memory: string
  seq: number
  update: Uint8Array
  grant: { id: string, version: number }
  ledger_head: string
  tick: number
}

function unsignedBody (b: Omit<FederatedChange, 'bundle_id' | 'signature'>): Record<string, unknown> {
  return { origin: b.origin, memory: b.memory, seq: b.seq, update: b.update, grant: { id: b.grant.id, version: b.grant.version }, ledger_head: b.ledger_head, tick: b.tick }
}

/** A bundle's id and the exact bytes its signature covers, from one canonical encoding of its body. */
export interface BundleDigest {
  /** `bundle_id` as computed from the content. */
  id: string
  /** The canonical encoding of every field but `signature`, with `bundle_id` = `id`. */
  signing: string
}

/**
 * The id a bundle's content gives and its signing bytes, canonicalizing the
 * body once: `bundle_id` sorts before every other member, so the canonical
 * encoding of the body plus `bundle_id` is the body's with that member put first.
 */
export function bundleDigest (b: Omit<FederatedChange, 'bundle_id' | 'signature'>): BundleDigest {
  const canon = canonicalize(unsignedBody(b))
  const id = sha256Hex(canon)
  return { id, signing: `{"bundle_id":"${id}",${canon.slice(1)}` }
}

/** `bundle_id` of a bundle: canonical hash of all fields but `bundle_id` and `signature`. */
export function bundleIdOf (b: Omit<FederatedChange, 'bundle_id' | 'signature'>): string {
  return bundleDigest(b).id
}

/** The exact bytes the signature covers. */
export function signingBytes (b: Omit<FederatedChange, 'signature'>): Uint8Array {
  return Buffer.from(canonicalize({ ...unsignedBody(b), bundle_id: b.bundle_id }), 'utf8')
}

/**
 * Builds and signs a bundle with the origin's key.
 *
 * @example
 * const bundle = signFederatedChange({ origin: id.peerId, memory: 'kv:notes', seq: 1, update, grant, ledger_head, tick: 3 }, id.keyPair)
 */
export function signFederatedChange (draft: FederatedChangeDraft, signer: Signer): FederatedChange {
  const body = {
    origin: draft.origin,
    memory: draft.memory,
    seq: draft.seq,
    update: Buffer.from(draft.update).toString('base64'),
    grant: { id: draft.grant.id, version: draft.grant.version },
    ledger_head: draft.ledger_head,
    tick: draft.tick
  }
  const { id: bundle_id, signing } = bundleDigest(body)
  const signature = Buffer.from(signer.sign(Buffer.from(signing, 'utf8'))).toString('base64url')
  return { bundle_id, ...body, signature }
}

/**
 * True when the signature verifies against the Ed25519 key embedded in
 * `origin`'s peer id. `digest` (from `bundleDigest`) saves re-encoding a
 * bundle whose id was already checked against its content.
 */
export function verifyFederatedChange (bundle: FederatedChange, digest?: BundleDigest): boolean {
  const key = publicKeyOfPeer(bundle.origin)
  if (key === undefined) return false
  let keyObject
  try {
    keyObject = importPublicKey(key)
  } catch {
    return false
  }
  const bytes = digest !== undefined && digest.id === bundle.bundle_id ? Buffer.from(digest.signing, 'utf8') : signingBytes(bundle)
  return verify(bytes, Buffer.from(bundle.signature, 'base64url'), keyObject)
}

/** Wire encoding of a bundle: UTF-8 canonical JSON. */
export function encodeFederatedChange (bundle: FederatedChange): Uint8Array {
  return Buffer.from(canonicalize(bundle), 'utf8')
}

/** Outcome of parsing untrusted bytes. */
export type ParseResult<T> =
  | { ok: true, value: T }
  | { ok: false, reason: 'OVERSIZED' | 'MALFORMED', detail: string }

/**
 * Parses untrusted bytes into a bundle: size first, then JSON, then the strict schema.
 * Never throws.
 */
export function parseFederatedChange (bytes: Uint8Array, maxBytes = DEFAULT_MAX_BUNDLE_BYTES): ParseResult<FederatedChange> {
  if (bytes.length > maxBytes) return { ok: false, reason: 'OVERSIZED', detail: `${bytes.length} bytes, limit ${maxBytes}` }
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'))
  } catch {
    return { ok: false, reason: 'MALFORMED', detail: 'not JSON' }
  }
  const parsed = FederatedChangeSchema.safeParse(json)
  if (!parsed.success) return { ok: false, reason: 'MALFORMED', detail: parsed.error.issues.slice(0, 3).map(i => `${i.path.join('.')}: ${i.message}`).join('; ') }
  return { ok: true, value: parsed.data }
}

/** The decoded Yjs update of a bundle. */
export function bundleUpdate (bundle: FederatedChange): Uint8Array {
  return new Uint8Array(Buffer.from(bundle.update, 'base64'))
}

/**
 * Asserts a bundle is well formed and its id matches its content.
 *
 * @throws FederationError `BUNDLE_INVALID` when `bundle_id` does not match
 */
export function assertBundleId (bundle: FederatedChange): void {
  if (bundleIdOf(bundle) !== bundle.bundle_id) throw new FederationError('BUNDLE_INVALID', `Cannot accept bundle ${bundle.bundle_id.slice(0, 16)}: id does not match its content`)
}
