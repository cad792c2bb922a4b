/**
 * Stable error codes. Codes are only ever added, never renamed: they cross the
 * wire as `{ code, message }` and callers branch on them.
 */
export const KERNEL_ERROR_CODES = {
  // protocol / input
  BAD_REQUEST: 'The request is not valid JSON or not an object',
  UNKNOWN_REQUEST_TYPE: 'The request type is not one of the protocol requests',
  SCHEMA_VIOLATION: 'The request or capability arguments do not match their schema',
  PAYLOAD_TOO_LARGE: 'The request or payload exceeds the configured size limit',
  // capabilities
  UNKNOWN_CAPABILITY: 'No capability descriptor has this id',
  CAPABILITY_DENIED: 'No valid grant covers this invocation',
  GRANT_MISSING: 'The principal holds no grant for the capability',
  GRANT_REVOKED: 'The grant was revoked',
  GRANT_EXPIRED: 'The tick is outside the grant validity window',
  GRANT_OUT_OF_SCOPE: 'The invocation falls outside the grant scope',
  UNKNOWN_GRANT: 'No grant has this id',
  RATE_LIMITED: 'The capability rate limit is exhausted for now',
  CEILING_EXCEEDED: 'The token budget exceeds the capability ceiling',
  // scheduler
  BUDGET_EXCEEDED: 'A token budget was overrun',
  UNKNOWN_TOKEN: 'No token has this id',
  DUPLICATE_TOKEN: 'A token with this id already exists',
  TOKEN_NOT_CANCELLABLE: 'The token has already finished',
  DEPENDENCY_FAILED: 'A token this one runs after did not complete',
  HANDLER_FAILED: 'The capability handler threw',
  TOKEN_CANCELLED: 'The token was cancelled',
  // ledger
  LEDGER_CHAIN_BROKEN: 'The hash chain does not verify',
  LEDGER_CORRUPT: 'The ledger file cannot be parsed',
  LEDGER_IO: 'The ledger storage failed',
  // snapshots
  UNKNOWN_SNAPSHOT: 'No snapshot has this id',
  SNAPSHOT_VERSION: 'The snapshot format version is not supported',
  SNAPSHOT_CORRUPT: 'The snapshot file does not match its content hash',
  REPLAY_DIVERGED: 'Replay produced a different hash than the ledger',
  SNAPSHOT_AUTH_INVALID: 'The snapshot auth token does not verify or does not bind this snapshot',
  // genesis / data dir
  GENESIS_INVALID: 'The genesis file is missing or invalid',
  DATA_DIR_MISSING: 'The data dir does not exist or was never initialised',
  DATA_DIR_UNREADABLE: 'The data dir cannot be read or written',
  DATA_DIR_EXISTS: 'A data dir is already initialised at this path',
  DATA_DIR_LOCKED: 'Another process has the data dir open',
  CONFIG_INVALID: 'A configuration file is invalid',
  INTERNAL: 'An unexpected internal error'
} as const

export type KernelErrorCode = keyof typeof KERNEL_ERROR_CODES

/** The error every kernel API throws; `code` is stable and survives serialisation. */
/**
 * Outcomes a token meets in normal operation (refusals and overruns the ledger
 * records): they carry no stack trace, which is most of an Error's cost and says
 * nothing here. Every other code (INTERNAL above all) keeps its stack.
 */
const EXPECTED_OUTCOMES: ReadonlySet<string> = new Set<KernelErrorCode>([
  'GRANT_MISSING', 'GRANT_REVOKED', 'GRANT_EXPIRED', 'GRANT_OUT_OF_SCOPE', 'RATE_LIMITED', 'CEILING_EXCEEDED', 'BUDGET_EXCEEDED', 'PAYLOAD_TOO_LARGE'
])

export class KernelError extends Error {
  readonly code: KernelErrorCode
  readonly details: Record<string, unknown> | undefined
  constructor (code: KernelErrorCode, message: string, options?: ErrorOptions & { details?: Record<string, unknown> }) {
    const limit = Error.stackTraceLimit
    if (EXPECTED_OUTCOMES.has(code)) Error.stackTraceLimit = 0
    try {
      super(message, options)
    } finally {
      Error.stackTraceLimit = limit
    }
    this.name = 'KernelError'
    this.code = code
    this.details = options?.details
  }

  toWire (): { code: KernelErrorCode, message: string } {
    return { code: this.code, message: this.message }
  }
}

export function isKernelError (err: unknown, code?: KernelErrorCode): err is KernelError {
  return err instanceof KernelError && (code === undefined || err.code === code)
}

/** Narrows an invariant; throws `INTERNAL` when it does not hold (lib0 `error.assert`). */
export function assert (cond: unknown, message = 'Assertion failed'): asserts cond {
  if (!cond) throw new KernelError('INTERNAL', message)
}

export function unreachable (value: never): never {
  throw new KernelError('INTERNAL', `Unexpected case: ${String(value)}`)
}
