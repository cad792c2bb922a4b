import { KernelError } from './errors.ts'
import { isInputEventType } from './events.ts'
import type { EventEnvelope } from './ledger/types.ts'
import type { KernelLedger } from './kernel-ledger.ts'

/** What replay drives: a kernel whose ledger is being rebuilt event by event. */
export interface ReplayTarget {
  readonly ledger: KernelLedger
  /** Re-applies a recorded input (`request`, `request_rejected`, `alert`); a promise only when it has to wait. */
  replayInput(event: EventEnvelope): void | Promise<void>
  /** Runs one scheduler step, exactly as the live kernel did; a promise only when it has to wait. */
  replayStep(): boolean | Promise<boolean>
}

export type ReplayOutcome =
  | { ok: true, eventsReplayed: number, head: string }
  | { ok: false, eventsReplayed: number, firstDivergentSeq: number, expected: string, actual: string, message: string }

/**
 * Re-runs the inputs recorded in `recorded[from..]` against `target` and checks
 * that every event it produces hashes exactly like the recorded one. A
 * recorded input is applied; any other recorded event marks a scheduler step
 * (the live kernel produced it by stepping), so the target steps. Stops at the
 * first divergence and reports its sequence number with both hashes.
 */
export async function replayRecorded (target: ReplayTarget, recorded: readonly EventEnvelope[], from: number): Promise<ReplayOutcome> {
  let i = from
  const start = target.ledger.size
  const diverged = (seq: number, expected: string, actual: string, message: string): ReplayOutcome =>
    ({ ok: false, eventsReplayed: Math.max(0, seq - start), firstDivergentSeq: seq, expected, actual, message })
  while (i < recorded.length) {
    const event = recorded[i] as EventEnvelope
    const before = target.ledger.size
    if (before !== i) return diverged(i, event.hash, target.ledger.get(i)?.hash ?? 'none', `Replay is at seq ${before}, the recorded event is at ${i}`)
    if (event.seq !== i) return diverged(i, event.hash, 'none', `Recorded event at position ${i} has seq ${event.seq}`)
    try {
      // Most inputs and steps complete synchronously: awaiting only real promises keeps
      // replay free of a microtask per event.
      const pending = isInputEventType(event.type) ? target.replayInput(event) : target.replayStep()
      if (typeof pending === 'object') await pending
    } catch (err) {
      const seq = target.ledger.size
      const produced = target.ledger.get(seq - 1)
      const expectedEvent = recorded[seq - 1]
      if (produced !== undefined && expectedEvent !== undefined && seq - 1 >= before && produced.hash !== expectedEvent.hash) {
        return diverged(seq - 1, expectedEvent.hash, produced.hash, `Replay produced a different event at seq ${seq - 1}`)
      }
      return diverged(seq, recorded[seq]?.hash ?? 'none', 'none', `Replay failed at seq ${seq}: ${(err as Error).message}`)
    }
    const after = target.ledger.size
    if (after === before) return diverged(i, event.hash, 'none', `Replay produced no event where the ledger holds ${event.type} at seq ${i}`)
    for (let seq = before; seq < after; seq++) {
      const produced = target.ledger.get(seq)
      const expected = recorded[seq]
      if (produced === undefined) throw new KernelError('INTERNAL', `Replay lost event ${seq}`)
      if (expected === undefined) return diverged(seq, 'none', produced.hash, `Replay produced ${produced.type} at seq ${seq} beyond the end of the ledger`)
      if (produced.hash !== expected.hash) return diverged(seq, expected.hash, produced.hash, `Replay produced a different ${produced.type} event at seq ${seq} (the ledger holds ${expected.type})`)
    }
    // Compared: a replay's scratch ledger can let them go (they would otherwise all outlive the young generation).
    target.ledger.release?.()
    i = after
  }
  return { ok: true, eventsReplayed: i - start, head: target.ledger.head }
}
