import { ZERO_HASH, hashCanonical } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'

/**
 * The kernel ledger as federation sees it: a place to record verdicts and
 * commits, and the current head hash (which every outgoing bundle carries).
 * The node daemon wires the real kernel ledger here.
 */
export interface FederationLedger {
  record(type: string, payload: CanonicalValue): void
  head(): string
}

export interface RecordedEvent {
  seq: number
  type: string
  payload: CanonicalValue
  prev_hash: string
  hash: string
}

/** An in-memory hash-chained ledger for tests and the standalone node. */
export interface MemoryLedger extends FederationLedger {
  events(): readonly RecordedEvent[]
  /** Called after every record (e.g. to persist or print). */
  onRecord(listener: (event: RecordedEvent) => void): void
}

/** Creates an empty in-memory ledger. */
export function createMemoryLedger (): MemoryLedger {
  const events: RecordedEvent[] = []
  const listeners: Array<(event: RecordedEvent) => void> = []
  let head = ZERO_HASH
  return {
    record (type, payload) {
      const body = { seq: events.length, type, payload, prev_hash: head }
      const hash = hashCanonical(body)
      const event = { ...body, hash }
      events.push(event)
      head = hash
      for (const l of listeners) l(event)
    },
    head: () => head,
    events: () => events,
    onRecord (listener) { listeners.push(listener) }
  }
}
