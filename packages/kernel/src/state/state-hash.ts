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

// Values are immutable once stored, so an object's digest is computed once: removing or
// replacing the entry later reuses it instead of re-encoding the value.
const cache = new WeakMap<object, { section: string, key: string, digest: bigint }>()
const scalars = new Map<string, { value: CanonicalValue, digest: bigint }>()

/** The digest one entry contributes to the state hash. */
export function entryDigest (section: string, key: string, value: CanonicalValue): bigint {
  if (typeof value === 'object' && value !== null) {
    const hit = cache.get(value)
    if (hit !== undefined && hit.section === section && hit.key === key) return hit.digest
    const digest = BigInt('0x' + hashCanonical([section, key, value]))
    cache.set(value, { section, key, digest })
    return digest
  }
  // Scalars: remember the last digest per entry, so replacing a counter or the tick hashes only the new value.
  const id = section + '\u0000' + key
  const last = scalars.get(id)
  if (last !== undefined && last.value === value) return last.digest
  const digest = BigInt('0x' + hashCanonical([section, key, value]))
  if (scalars.size > 4096) scalars.clear()
  scalars.set(id, { value, digest })
  return digest
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
