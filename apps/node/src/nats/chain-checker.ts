import { ZERO_HASH } from '@os2/crypto'
import { envelopeHash } from '@os2/kernel'
import type { EventEnvelope } from '@os2/kernel'

/** Why a consumer stopped trusting a node's stream. */
export type DivergenceReason = 'unparsable' | 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_gap'

/**
 * Why a stream was found diverged: a chain break, or (for a node reading its
 * own stream) an event its ledger holds differently (`ledger_mismatch`) or
 * does not hold at all (`stream_ahead`).
 */
export type StreamAlertReason = DivergenceReason | 'ledger_mismatch' | 'stream_ahead'

/** Raised by a consumer when a node's stream does not continue its hash chain. */
export interface StreamAlert {
  node: string
  reason: StreamAlertReason
  /** The ledger seq the consumer expected next. */
  seq: number
  /** Stream sequence of the offending message. */
  streamSeq: number
  message: string
}

export type ChainVerdict =
  | { kind: 'ok', event: EventEnvelope }
  | { kind: 'duplicate', event: EventEnvelope }
  | { kind: 'diverged', reason: DivergenceReason, message: string }

/**
 * Re-verifies one node's hash chain as its events arrive: each envelope's
 * hash is recomputed, its seq must be the next one and its `prev_hash` the
 * previous event's hash. A re-delivery of an event already seen (same seq,
 * same hash) is a duplicate, not a divergence.
 */
export interface ChainChecker {
  /** The next seq expected. */
  readonly next: number
  /** Hash of the last verified event (`undefined` before the first when not anchored). */
  readonly head: string | undefined
  check(data: Uint8Array | string): ChainVerdict
}

class DefaultChainChecker implements ChainChecker {
  next: number
  head: string | undefined
  readonly #seen = new Map<number, string>()

  constructor (since: number, anchor: string | undefined) {
    this.next = since
    this.head = since === 0 ? ZERO_HASH : anchor
  }

  check (data: Uint8Array | string): ChainVerdict {
    let event: EventEnvelope
    try {
      event = JSON.parse(typeof data === 'string' ? data : Buffer.from(data).toString('utf8')) as EventEnvelope
      if (typeof event !== 'object' || event === null || typeof event.seq !== 'number' || typeof event.hash !== 'string') throw new Error('not an envelope')
    } catch (err) {
      return { kind: 'diverged', reason: 'unparsable', message: `Event ${this.next} is not an envelope: ${(err as Error).message}` }
    }
    const actual = envelopeHash(event)
    if (actual !== event.hash) {
      return { kind: 'diverged', reason: 'hash_mismatch', message: `Event ${event.seq} hash ${event.hash.slice(0, 12)} does not match its content (${actual.slice(0, 12)})` }
    }
    if (event.seq < this.next && this.#seen.get(event.seq) === event.hash) return { kind: 'duplicate', event }
    if (event.seq !== this.next) {
      return { kind: 'diverged', reason: 'seq_gap', message: `Expected event ${this.next}, got ${event.seq}` }
    }
    if (this.head !== undefined && event.prev_hash !== this.head) {
      return { kind: 'diverged', reason: 'prev_hash_mismatch', message: `Event ${event.seq} prev_hash ${event.prev_hash.slice(0, 12)} does not link to ${this.head.slice(0, 12)}` }
    }
    this.#seen.set(event.seq, event.hash)
    if (this.#seen.size > 1024) this.#seen.delete(event.seq - 1024)
    this.next = event.seq + 1
    this.head = event.hash
    return { kind: 'ok', event }
  }
}

/**
 * A checker expecting event `since` next. `anchor` is the hash of event
 * `since - 1` (when known) so that the first event's link is checked too.
 */
export function createChainChecker (since = 0, anchor?: string): ChainChecker {
  return new DefaultChainChecker(since, anchor)
}
