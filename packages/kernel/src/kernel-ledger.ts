import type { EventDraft, EventEnvelope, LedgerStorage } from './ledger/types.ts'
import type { LedgerView } from './kernel-types.ts'

/** The ledger as the kernel drives it: synchronous in-memory append, durable `flush`. */
export interface KernelLedger extends LedgerView {
  append(draft: EventDraft): EventEnvelope
  flush(): Promise<void>
  close?(): Promise<void>
}

export interface OpenedLedger {
  ledger: KernelLedger
  repaired?: { segment: string, droppedBytes: number, atSeq: number } | undefined
}

/** How the kernel makes ledgers: scratch (in memory) and opened from storage. */
export interface LedgerFactory {
  create(): KernelLedger
  open(storage: LedgerStorage): Promise<OpenedLedger>
}
