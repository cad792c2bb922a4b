import type { SignedCheckpoint } from '../kernel-types.ts'
import type { EventEnvelope, LedgerStorage, LoadedLedger } from './types.ts'

/** A `LedgerStorage` in memory, for tests and scratch kernels; counts writes so tests can see group commit. */
export interface MemoryLedgerStorage extends LedgerStorage {
  /** Every stored event, in order. */
  readonly events: readonly EventEnvelope[]
  readonly checkpoints: readonly SignedCheckpoint[]
  /** How many `append` calls reached the storage. */
  readonly writes: number
}

class DefaultMemoryLedgerStorage implements MemoryLedgerStorage {
  readonly events: EventEnvelope[]
  readonly checkpoints: SignedCheckpoint[] = []
  writes = 0

  constructor (events: readonly EventEnvelope[]) {
    this.events = events.slice()
  }

  async load (): Promise<LoadedLedger> {
    return { events: this.events.slice() }
  }

  async append (events: readonly EventEnvelope[]): Promise<void> {
    this.writes++
    this.events.push(...events)
  }

  async appendCheckpoint (checkpoint: SignedCheckpoint): Promise<void> {
    this.checkpoints.push(checkpoint)
  }

  async loadCheckpoints (): Promise<SignedCheckpoint[]> {
    return this.checkpoints.slice()
  }

  async close (): Promise<void> {}
}

/**
 * An in-memory `LedgerStorage`, optionally pre-filled.
 *
 * @example
 * const storage = createMemoryLedgerStorage()
 * const ledger = await openLedger(storage)
 */
export function createMemoryLedgerStorage (events: readonly EventEnvelope[] = []): MemoryLedgerStorage {
  return new DefaultMemoryLedgerStorage(events)
}
