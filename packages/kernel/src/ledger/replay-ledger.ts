import { KernelError } from '../errors.ts'
import type { ConsistencyProof, InclusionProof } from '../kernel-types.ts'
import type { KernelLedger } from '../kernel-ledger.ts'
import { isNextEnvelope, sealEnvelope } from './envelope.ts'
import type { EventDraft, EventEnvelope, VerifyResult } from './types.ts'

/**
 * The ledger a replay writes into. Replay compares each event it produces
 * with the recorded one and then has no use for it, but a ledger keeps every
 * event: kept, each produced envelope and payload outlived the young
 * generation and was copied by the GC twice, a quarter to a third of replay's
 * GC time. This ledger continues a chain from `size` and `head`, seals each
 * event exactly as `Ledger.append` does (same bytes, same hash), and holds
 * only the events appended since the last `release()`.
 */
export interface ReplayLedger extends KernelLedger {
  appendVerified(envelope: EventEnvelope): EventEnvelope | undefined
  /** Forgets the events appended so far (they were compared); size and head stay. */
  release(): void
}

class ChainTail implements ReplayLedger {
  #size: number
  #head: string
  /** Events appended since the last release; the first is at seq `#base`. */
  #window: EventEnvelope[] = []
  #base: number

  constructor (size: number, head: string) {
    this.#size = size
    this.#head = head
    this.#base = size
  }

  get size (): number { return this.#size }
  get head (): string { return this.#head }

  append (draft: EventDraft): EventEnvelope {
    const { envelope } = sealEnvelope(draft, this.#size, this.#head)
    this.#push(envelope)
    return envelope
  }

  appendVerified (envelope: EventEnvelope): EventEnvelope | undefined {
    if (!isNextEnvelope(envelope, this.#size, this.#head)) return undefined
    this.#push(envelope)
    return envelope
  }

  #push (envelope: EventEnvelope): void {
    this.#window.push(envelope)
    this.#size++
    this.#head = envelope.hash
  }

  release (): void {
    this.#window = []
    this.#base = this.#size
  }

  get (seq: number): EventEnvelope | undefined {
    return seq >= this.#base ? this.#window[seq - this.#base] : undefined
  }

  * events (from = this.#base, to: number = this.#size): Iterable<EventEnvelope> {
    if (from < this.#base) throw released(from)
    for (let seq = from; seq < Math.min(to, this.#size); seq++) yield this.#window[seq - this.#base] as EventEnvelope
  }

  flush (): Promise<void> { return Promise.resolve() }

  root (): string { throw noHistory('a Merkle root') }
  inclusionProof (): InclusionProof { throw noHistory('an inclusion proof') }
  consistencyProof (): ConsistencyProof { throw noHistory('a consistency proof') }
  verify (): VerifyResult { throw noHistory('verification') }
}

function released (seq: number): KernelError {
  return new KernelError('INTERNAL', `A replay ledger no longer holds event ${seq}: it keeps only the events not yet compared`)
}

function noHistory (what: string): KernelError {
  return new KernelError('INTERNAL', `A replay ledger cannot give ${what}: it keeps only the events not yet compared`)
}

/** A replay ledger continuing the chain whose `size` events end in `head` (empty: 0 and 64 zeros). */
export function createReplayLedger (size: number, head: string): ReplayLedger {
  return new ChainTail(size, head)
}
