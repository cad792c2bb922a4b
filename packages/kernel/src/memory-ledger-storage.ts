import type { EventEnvelope, LedgerStorage, LoadedLedger } from './ledger/types.ts'

/** A `LedgerStorage` holding events in memory (scratch kernels, tests). */
export function createMemoryLedgerStorage (initial: readonly EventEnvelope[] = []): LedgerStorage & { readonly events: EventEnvelope[] } {
  const events = [...initial]
  return {
    events,
    async load (): Promise<LoadedLedger> { return { events: [...events] } },
    async append (batch: readonly EventEnvelope[]): Promise<void> { events.push(...batch) },
    async close (): Promise<void> {}
  }
}
