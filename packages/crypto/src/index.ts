/**
 * @packageDocumentation
 * Canonical encoding, hashing, Ed25519 keys and signatures, Merkle proofs and
 * signed tokens: the cryptographic base every other OS2 package stands on.
 *
 * @example
 * ```ts
 * import { hashCanonical } from '@os2/crypto'
 * hashCanonical({ b: 1, a: 2 }) === hashCanonical({ a: 2, b: 1 }) // true
 * ```
 */
export { canonicalize, canonicalBytes, quote } from './canonical.ts'
export { sha256, sha256Hex, hashCanonical, ZERO_HASH } from './hash.ts'
export { CryptoError, CRYPTO_ERROR_CODES } from './errors.ts'
export {
  generateKeyPair, keyPairFromSeed, keyPairFromPem, keyPairToPem, saveKeyPair, loadKeyPair, keyFileExists,
  importPublicKey, keyIdFor, publicKeyHex, sign, verify
} from './keys.ts'
export {
  createMerkleTree, merkleLeafHash, merkleNodeHash, merkleRootOf, verifyInclusion, verifyConsistency, MERKLE_EMPTY_ROOT
} from './merkle.ts'
export { signToken, verifyToken } from './signed-token.ts'
export type { CanonicalValue } from './canonical.ts'
export type { CryptoErrorCode } from './errors.ts'
export type { Signer, KeyPair } from './keys.ts'
export type { MerkleTree, InclusionCheck, ConsistencyCheck } from './merkle.ts'
export type { TokenClaims, TokenHeader } from './signed-token.ts'
