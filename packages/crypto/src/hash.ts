import { createHash, hash as oneShotHash } from 'node:crypto'
import { canonicalize } from './canonical.ts'

/** 64 hex zeros: the `prev_hash` of the first event in every chain. */
export const ZERO_HASH = '0'.repeat(64)

/** SHA-256 of a UTF-8 string or bytes, as lower-case hex. */
export function sha256Hex (data: string | Uint8Array): string {
  return oneShotHash('sha256', data, 'hex')
}

/** SHA-256 of a UTF-8 string or bytes, as raw bytes. */
export function sha256 (data: string | Uint8Array): Uint8Array {
  return createHash('sha256').update(data).digest()
}

/** SHA-256 (hex) of the canonical encoding of `value`: the one way OS2 hashes structured data. */
export function hashCanonical (value: unknown): string {
  return sha256Hex(canonicalize(value))
}
