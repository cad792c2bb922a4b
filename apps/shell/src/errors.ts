/**
 * Shell-level errors and the mapping from any error code to an exit code.
 * Kernel and crypto errors keep their own stable codes; the shell adds a few of its own.
 */
export const SHELL_ERROR_CODES = {
  USAGE: 'The command line is not valid (unknown command or option, bad value)',
  SCENARIO_INVALID: 'The scenario file does not match the scenario format',
  SCENARIO_EXPECTATION_FAILED: 'A scenario step did not produce the expected outcome',
  SCENARIO_SEED_MISMATCH: 'The scenario seed differs from the data dir genesis seed',
  SCENARIO_NOT_FRESH: 'scenario-run --fresh found a data dir that already holds other events',
  TOKEN_NOT_COMPLETED: 'The submitted token did not complete',
  REQUEST_REJECTED: 'The kernel rejected the request',
  UNKNOWN_EVENT: 'No ledger event has this hash'
} as const

export type ShellErrorCode = keyof typeof SHELL_ERROR_CODES

/**
 * Codes that mean "bad usage" (exit 2): the input was wrong before the kernel
 * could act on it. Every other code exits 1 (the operation failed or a
 * verification found a problem).
 */
const USAGE_CODES: ReadonlySet<string> = new Set([
  'USAGE',
  'BAD_REQUEST',
  'UNKNOWN_REQUEST_TYPE',
  'SCHEMA_VIOLATION',
  'PAYLOAD_TOO_LARGE',
  'UNKNOWN_CAPABILITY',
  'SCENARIO_INVALID',
  'MERKLE_RANGE'
])

/** The exit code for an error code: 2 for usage errors, 1 otherwise. */
export function exitCodeFor (code: string): 1 | 2 {
  return USAGE_CODES.has(code) ? 2 : 1
}

/** An error raised by the shell itself; `code` is stable, `exitCode` follows {@link exitCodeFor}. */
export class ShellError extends Error {
  readonly code: string
  readonly details: Record<string, unknown> | undefined
  constructor (code: ShellErrorCode | string, message: string, options?: ErrorOptions & { details?: Record<string, unknown> }) {
    super(message, options)
    this.name = 'ShellError'
    this.code = code
    this.details = options?.details
  }

  get exitCode (): 1 | 2 { return exitCodeFor(this.code) }
}

/** `{ code, message }` of any thrown value; unknown errors become `INTERNAL`. */
export function describeError (err: unknown): { code: string, message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    if (typeof code === 'string' && /^[A-Z][A-Z0-9_]*$/.test(code)) return { code, message: err.message }
    if (err instanceof SyntaxError) return { code: 'BAD_REQUEST', message: err.message }
    return { code: 'INTERNAL', message: err.message || err.name }
  }
  return { code: 'INTERNAL', message: String(err) }
}
