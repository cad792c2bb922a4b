/** One call from Python (`os2.invoke(capability, args)`) to the kernel. */
export interface SyscallCall {
  capability: string
  args: unknown
}

/** Errors cross the bridge as `{ code, message }` (kernel codes, e.g. `CAPABILITY_DENIED`). */
export interface SyscallError {
  code: string
  message: string
}

export type SyscallResult = { ok: true, value: unknown } | { ok: false, error: SyscallError }

/**
 * The parent-side port of the syscall bridge. The kernel supplies it (grant
 * checks, budget, ledger); the sandbox only forwards calls and answers.
 * Capabilities the Python `os2` module uses: `kernel.emit`,
 * `kernel.state.get` / `kernel.state.put` / `kernel.state.delete`, `net.fetch`,
 * and anything passed to `os2.invoke`.
 */
export type SyscallHandler = (call: SyscallCall) => Promise<SyscallResult>

/** Something the sandbox caught the script trying; the kernel records a `capability_violation`. */
export interface Violation {
  /** `forbidden_import`, `fs_outside_session`, `process_spawn`, `network`, `introspection`, `metering_tamper`, `permission_denied`, `native_binding`, `output_limit`, ... */
  kind: string
  detail: string
}

export type RunStatus = 'ok' | 'error' | 'budget_exceeded' | 'killed' | 'violation'

export interface RunError {
  code: string
  message: string
  pythonType?: string
}

export interface RunResult {
  status: RunStatus
  /** Metered units (inline ticks at function entry and loop bodies, see child/meter.py); deterministic for a given script and inputs. */
  units: number
  stdout: string
  stderr: string
  error?: RunError
  violations: Violation[]
  /** True when the output cap cut stdout/stderr. */
  outputTruncated: boolean
  /** Wall time of the run in ms (informational; never part of a ledger hash). */
  wallMs: number
}

export type OutputStream = 'stdout' | 'stderr'

export interface RunOptions {
  argv?: string[]
  /** Live output, in order, as it is produced. */
  onOutput?: (stream: OutputStream, chunk: string) => void
  /** Overrides the session's unit budget for this run. */
  unitBudget?: number
}
