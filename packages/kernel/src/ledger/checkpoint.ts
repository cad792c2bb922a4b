import { canonicalBytes, verify } from '@os2/crypto'
import type { Signer } from '@os2/crypto'
import type { SignedCheckpoint } from '../kernel-types.ts'

/** What a checkpoint signature covers: canonical JSON of `{ root, size, tick }`. */
export function checkpointSigningBytes (cp: { size: number, root: string, tick: number }): Uint8Array {
  return canonicalBytes({ root: cp.root, size: cp.size, tick: cp.tick })
}

/**
 * Signs the ledger head `{ size, root, tick }` with `signer` (the node key).
 *
 * @example
 * const cp = signCheckpoint(nodeKey, { size: ledger.size, root: ledger.root(), tick })
 */
export function signCheckpoint (signer: Signer, head: { size: number, root: string, tick: number }): SignedCheckpoint {
  const signature = Buffer.from(signer.sign(checkpointSigningBytes(head))).toString('base64url')
  return { size: head.size, root: head.root, tick: head.tick, publicKey: signer.publicKey, signature }
}

/**
 * Verifies a checkpoint's signature against its own public key, or against
 * `options.publicKey` when given (then the keys must also match). Never throws.
 */
export function verifyCheckpoint (cp: SignedCheckpoint, options: { publicKey?: string } = {}): boolean {
  if (cp === null || typeof cp !== 'object') return false
  const { size, root, tick, publicKey, signature } = cp
  if (!Number.isSafeInteger(size) || size < 0 || !Number.isSafeInteger(tick) || tick < 0) return false
  if (typeof root !== 'string' || !/^[0-9a-f]{64}$/.test(root)) return false
  if (typeof publicKey !== 'string' || typeof signature !== 'string' || !/^[A-Za-z0-9_-]{86}$/.test(signature)) return false
  if (options.publicKey !== undefined && options.publicKey !== publicKey) return false
  return verify(checkpointSigningBytes(cp), Buffer.from(signature, 'base64url'), publicKey)
}
