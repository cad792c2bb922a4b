import type { CanonicalValue } from '@os2/crypto'
import type { FederationLedger } from '../ledger-port.ts'

/** What the adapter needs from a kernel: `record` (an input event appended through the kernel's serialised path) and the ledger head. */
export interface RecordingKernel {
  record(type: string, payload: Record<string, CanonicalValue>): Promise<unknown>
  readonly ledger: { readonly head: string }
}

/** A {@link FederationLedger} over the kernel ledger, with a way to wait for what it recorded. */
export interface KernelLedgerPort extends FederationLedger {
  /** Resolves once every event recorded so far is durable; rejects with the first failure since the previous flush. */
  flush(): Promise<void>
  /** Events recorded so far that failed to append (should stay 0). */
  readonly failures: number
}

/**
 * Federation verdicts, revocations and memory commits as kernel ledger
 * events: `record(type, payload)` becomes `kernel.record(type, payload)`, an
 * input event (dotted type) that replay re-appends as recorded. Records are
 * queued behind whatever the kernel is doing (a token step that wrote the
 * memory, for instance) and kept in order.
 */
export function createKernelLedgerPort (kernel: RecordingKernel): KernelLedgerPort {
  let tail: Promise<void> = Promise.resolve()
  let failures = 0
  let firstError: unknown
  return {
    record (type, payload) {
      // Observe the outcome at once: a record that fails while an earlier one is
      // still pending must not surface as an unhandled rejection.
      const outcome = kernel.record(type, payload as Record<string, CanonicalValue>)
        .then(() => undefined, (err: unknown) => ({ err }))
      tail = tail.then(async () => {
        const failed = await outcome
        if (failed !== undefined) {
          failures++
          firstError ??= failed.err
        }
      })
    },
    head: () => kernel.ledger.head,
    async flush () {
      await tail
      const err = firstError
      firstError = undefined
      if (err !== undefined) throw err
    },
    get failures () { return failures }
  }
}
