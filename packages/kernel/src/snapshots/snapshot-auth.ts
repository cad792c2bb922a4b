import { verifyToken } from '@os2/crypto'
import { KernelError } from '../errors.ts'
import type { SnapshotRecord } from './snapshot-record.ts'

/** What a `snapshot-auth` token binds. */
export interface SnapshotAuthClaims {
  typ: 'os2-snapshot-auth'
  sub: string
  snapshot_content_hash: string
  ledger_head: string
  ledger_seq: number
  state_hash: string
  genesis_hash: string
}

/**
 * Verifies a `snapshot-auth` token offline with only the node's public key,
 * and, when `record` is given, that the token binds exactly that snapshot.
 *
 * @throws KernelError `SNAPSHOT_CORRUPT` when the signature, the claims or the binding do not verify
 * @example
 * const claims = await verifySnapshotAuth(token, publicKeyHex)
 */
export async function verifySnapshotAuth (token: string, publicKey: string | Uint8Array, record?: SnapshotRecord): Promise<SnapshotAuthClaims> {
  let claims: Record<string, unknown>
  try {
    claims = await verifyToken(token, publicKey)
  } catch (err) {
    throw new KernelError('SNAPSHOT_AUTH_INVALID', `Snapshot auth token does not verify: ${(err as Error).message}`, { cause: err })
  }
  if (claims.typ !== 'os2-snapshot-auth' || typeof claims.sub !== 'string' || typeof claims.snapshot_content_hash !== 'string' ||
    typeof claims.ledger_head !== 'string' || typeof claims.ledger_seq !== 'number' || typeof claims.state_hash !== 'string') {
    throw new KernelError('SNAPSHOT_AUTH_INVALID', 'Snapshot auth token does not carry snapshot claims')
  }
  const c = claims as unknown as SnapshotAuthClaims
  if (record !== undefined && (c.sub !== record.id || c.snapshot_content_hash !== record.contentHash || c.ledger_head !== record.ledgerHead ||
    c.ledger_seq !== record.ledgerSeq || c.state_hash !== record.stateHash)) {
    throw new KernelError('SNAPSHOT_AUTH_INVALID', `Snapshot auth token does not bind snapshot ${record.id}`)
  }
  return c
}
