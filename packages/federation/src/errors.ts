/** Stable error codes of the federation package; codes are only ever added, never renamed. */
export const FEDERATION_ERROR_CODES = {
  MEMORY_INVALID: 'MEMORY_INVALID',
  VALUE_INVALID: 'VALUE_INVALID',
  COMMIT_NOT_FOUND: 'COMMIT_NOT_FOUND',
  BUNDLE_INVALID: 'BUNDLE_INVALID',
  GRANT_MISSING: 'GRANT_MISSING',
  STORAGE_CORRUPT: 'STORAGE_CORRUPT',
  TRANSPORT_FAILED: 'TRANSPORT_FAILED'
} as const

export type FederationErrorCode = keyof typeof FEDERATION_ERROR_CODES

/** The one error class of `@os2/federation`; callers branch on `code`. */
export class FederationError extends Error {
  readonly code: FederationErrorCode

  constructor (code: FederationErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'FederationError'
    this.code = code
  }
}
