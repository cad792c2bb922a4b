/**
 * Stable error codes of the sandbox. Codes are only ever added, never
 * renamed: they travel to the kernel and the CLI as `{ code, message }`.
 */
export const SANDBOX_ERROR_CODES = {
  // session lifecycle
  SANDBOX_START_FAILED: 'The sandbox process could not be started or did not load Pyodide',
  SANDBOX_CLOSED: 'The sandbox session is closed or its process has exited',
  SANDBOX_BUSY: 'A run is already in progress in this session',
  SANDBOX_CRASHED: 'The sandbox process exited unexpectedly',
  SNAPSHOT_FAILED: 'The Pyodide memory snapshot could not be created',
  SNAPSHOT_DIR_UNSAFE: 'The snapshot folder is not private to this user (another user could plant code that sessions run)',
  // run outcomes
  BUDGET_EXCEEDED: 'The run used its whole unit budget',
  OUTPUT_LIMIT_EXCEEDED: 'The run wrote more output than allowed',
  MEMORY_LIMIT_EXCEEDED: 'The sandbox process went past its memory limit and was killed',
  WALL_CLOCK_EXCEEDED: 'The run went past its wall-clock limit and was killed',
  PYTHON_SYNTAX_ERROR: 'The script does not compile',
  PYTHON_EXCEPTION: 'The script raised an exception',
  PYTHON_EXIT: 'The script called sys.exit with a non-zero status',
  SANDBOX_VIOLATION: 'The script tried to get around the sandbox',
  // bridge
  CAPABILITY_DENIED: 'No valid grant covers this invocation',
  HANDLER_FAILED: 'The syscall handler threw',
  INVALID_ARGUMENT: 'An argument is out of range or malformed'
} as const

export type SandboxErrorCode = keyof typeof SANDBOX_ERROR_CODES

/** The error every sandbox API throws; `code` is stable and survives serialisation. */
export class SandboxError extends Error {
  readonly code: SandboxErrorCode
  constructor (code: SandboxErrorCode, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'SandboxError'
    this.code = code
  }

  toWire (): { code: SandboxErrorCode, message: string } {
    return { code: this.code, message: this.message }
  }
}

export function isSandboxError (err: unknown, code?: SandboxErrorCode): err is SandboxError {
  return err instanceof SandboxError && (code === undefined || err.code === code)
}
