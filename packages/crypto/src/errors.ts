export const CRYPTO_ERROR_CODES = [
  'CANONICAL_UNSUPPORTED_VALUE',
  'KEY_INVALID',
  'KEY_FILE_PERMISSIONS',
  'SIGNATURE_INVALID',
  'MERKLE_PROOF_INVALID',
  'MERKLE_RANGE',
  'TOKEN_INVALID'
] as const

export type CryptoErrorCode = typeof CRYPTO_ERROR_CODES[number]

/** Every error raised by `@os2/crypto`; callers branch on `code`. */
export class CryptoError extends Error {
  readonly code: CryptoErrorCode
  constructor (code: CryptoErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'CryptoError'
    this.code = code
  }
}
