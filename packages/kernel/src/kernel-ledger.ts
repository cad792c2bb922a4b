import type { EventDraft, EventEnvelope, LedgerStorage } from './ledger/types.ts'
import type { Signer } from '@os2/crypto'
import type { LedgerView, SignedCheckpoint } from './kernel-types.ts'

/** The ledger as the kernel drives it: synchronous in-memory append, durable `flush`. */
export interface KernelLedger extends LedgerView {
  append(draft: EventDraft): EventEnvelope
  /**
   * Appends an envelope already verified (replay of a verified ledger) without
   * re-hashing, if it is exactly what `append` would produce here; else appends
   * nothing and returns undefined. Optional.
   */
  appendVerified?(envelope: EventEnvelope): EventEnvelope | undefined
  flush(): Promise<void>
  /** Forgets the events appended so far, keeping size and head: a replay's ledger, once replay has compared them. Optional. */
  release?(): void
  close?(): Promise<void>
  /** Signs (size, root, tick) with the node key; written to storage once the events it covers are durable. Optional. */
  checkpoint?(signer: Signer, tick: number): SignedCheckpoint
  checkpoints?(): SignedCheckpoint[]
}

export interface OpenedLedger {
  ledger: KernelLedger
  /** True when every stored event's hash and link was verified while opening (replay then matches events instead of re-hashing them). */
  verified?: boolean
  /** Hashes still being verified elsewhere: rejects with the chain error; the kernel reports nothing before it settles. */
  pendingVerification?: Promise<void>
  repaired?: { segment: string, droppedBytes: number, atSeq: number } | undefined
}

/** How the kernel makes its ledger: in memory (no storage) or opened from storage. Replays use `ledger/replay-ledger.ts`. */
export interface LedgerFactory {
  create(): KernelLedger
  open(storage: LedgerStorage): Promise<OpenedLedger>
}
