import type { Sandbox } from '../sandbox.ts'
import type { OutputStream, RunError, SyscallCall, SyscallResult, Violation } from '../types.ts'

/** One message of a running script, as the kernel records it (`python.next` external results). */
export type PythonMessage =
  | { t: 'out', s: OutputStream, text: string }
  | { t: 'call', capability: string, args: unknown }
  | { t: 'done', status: string, units: number, error: RunError | null, violations: Violation[], outputTruncated: boolean }

/** Live output listener (the CLI's terminal); never called on replay. */
export type OutputSink = (stream: OutputStream, text: string) => void

/** Largest run of output gathered into one batch before it is handed to the kernel. */
const BATCH_OUTPUT_CHARS = 32 * 1024

/** A `done` message for an outcome that never reached Python (start failure, missing wheel). */
export function syntheticDone (status: string, code: string, message: string): PythonMessage {
  return { t: 'done', status, units: 0, error: { code, message }, violations: [], outputTruncated: false }
}

/** A pull stream of a running script's messages (a {@link LiveRun}, or a scripted fake in tests). */
export interface LiveSource {
  /** Answers the pending syscall (if any); resolves with the messages up to the next syscall or the outcome. */
  next: (reply?: SyscallResult) => Promise<PythonMessage[]>
  /** The kernel stopped the run: fail the pending syscall. */
  abandon: () => void
}

/**
 * A script running in a live sandbox, turned into a pull stream: `next(reply)`
 * answers the pending syscall (if any) and resolves with the messages up to
 * and including the next syscall or the final outcome.
 */
export class LiveRun implements LiveSource {
  private readonly queue: PythonMessage[] = []
  private wake: (() => void) | undefined
  private replyTo: ((r: SyscallResult) => void) | undefined
  private finished = false

  constructor (private readonly sink: OutputSink | undefined) {}

  /** The sandbox-side syscall port: parks the call until the kernel answers through `next`. */
  readonly syscall = async (call: SyscallCall): Promise<SyscallResult> => await new Promise<SyscallResult>((resolve) => {
    this.replyTo = resolve
    this.push({ t: 'call', capability: call.capability, args: call.args ?? null })
  })

  start (sandbox: Sandbox, code: string, argv: string[], unitBudget: number): void {
    sandbox.run(code, {
      argv,
      unitBudget,
      onOutput: (s, text) => {
        try { this.sink?.(s, text) } catch { /* the listener's problem */ }
        this.push({ t: 'out', s, text })
      }
    }).then((r) => {
      this.push({ t: 'done', status: r.status, units: r.units, error: r.error ?? null, violations: r.violations, outputTruncated: r.outputTruncated })
    }, (err: unknown) => {
      this.push(syntheticDone('killed', 'SANDBOX_CLOSED', err instanceof Error ? err.message : String(err)))
    })
  }

  /** Ends the run from the outside (a kernel-side stop): the pending syscall gets an error. */
  abandon (): void {
    const reply = this.replyTo
    this.replyTo = undefined
    reply?.({ ok: false, error: { code: 'TOKEN_STOPPED', message: 'The kernel stopped this run' } })
  }

  private push (msg: PythonMessage): void {
    this.queue.push(msg)
    const wake = this.wake
    this.wake = undefined
    wake?.()
  }

  async next (reply?: SyscallResult): Promise<PythonMessage[]> {
    if (reply !== undefined) {
      const answer = this.replyTo
      this.replyTo = undefined
      answer?.(reply)
    }
    const batch: PythonMessage[] = []
    let chars = 0
    for (;;) {
      const msg = this.queue.shift()
      if (msg === undefined) {
        if (this.finished) return batch
        await new Promise<void>((resolve) => { this.wake = resolve })
        continue
      }
      if (msg.t === 'out') {
        const last = batch[batch.length - 1]
        if (last !== undefined && last.t === 'out' && last.s === msg.s) last.text += msg.text
        else batch.push({ ...msg })
        chars += msg.text.length
        if (chars >= BATCH_OUTPUT_CHARS) return batch
        continue
      }
      batch.push(msg)
      if (msg.t === 'done') this.finished = true
      return batch
    }
  }
}
