import { hashCanonical } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'

/**
 * The incremental state hash: an additive multiset hash. Each entry
 * `(section, key, value)` contributes `SHA-256(canonical([section, key, value]))`
 * read as a 256-bit integer; the state hash is their sum modulo 2^256. Adding,
 * removing or replacing an entry updates the sum in O(1), so `stateHash()` never
 * walks the state, and the result does not depend on insertion order.
 */
const MOD = 1n << 256n

/** The digest one entry contributes to the state hash. */
export function entryDigest (section: string, key: string, value: CanonicalValue): bigint {
  return BigInt('0x' + hashCanonical([section, key, value]))
}

/** `acc + digest` modulo 2^256. */
export function addDigest (acc: bigint, digest: bigint): bigint {
  return (acc + digest) % MOD
}

/** `acc - digest` modulo 2^256. */
export function subDigest (acc: bigint, digest: bigint): bigint {
  return (acc - digest + MOD) % MOD
}

/** The accumulator as 64 lower-case hex digits. */
export function formatDigest (acc: bigint): string {
  return acc.toString(16).padStart(64, '0')
}
