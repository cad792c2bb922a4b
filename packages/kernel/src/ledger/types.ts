import type { CanonicalValue } from '@os2/crypto'
import type { SignedCheckpoint } from '../kernel-types.ts'

/**
 * One ledger entry. `hash = SHA-256(canonical(envelope without hash))`; the first
 * event's `prev_hash` is 64 zeros. `seq` starts at 0 and has no gaps.
 */
export interface EventEnvelope {
  event_id: string
  seq: number
  tick: number
  type: string
  capability_id: string | null
  token_id: string | null
  payload: { readonly [key: string]: CanonicalValue | undefined }
  prev_hash: string
  hash: string
}

/** What the kernel hands the ledger; the ledger fills in id, seq, prev_hash and hash. */
export interface EventDraft {
  tick: number
  type: string
  capability_id?: string | null
  token_id?: string | null
  payload: { readonly [key: string]: CanonicalValue | undefined }
}

/** Result of verifying a sequence of envelopes. */
export type VerifyResult =
  | { ok: true, size: number, head: string }
  | { ok: false, size: number, firstBadSeq: number, reason: VerifyFailure, message: string }

export type VerifyFailure = 'hash_mismatch' | 'prev_hash_mismatch' | 'seq_mismatch' | 'unparsable' | 'truncated'
  /** A stored signed checkpoint does not verify or does not match the events (see `verifyLedgerDir`). */
  | 'checkpoint_invalid'

/**
 * The storage port. The kernel core never touches the file system; the
 * file-backed adapter lives in `@os2/kernel/node`. `append` resolves only
 * once the events are durable (group commit coalesces concurrent calls).
 */
export interface LedgerStorage {
  /** Reads every stored event, repairing a torn tail (reported, never silent). */
  load(): Promise<LoadedLedger>
  /**
   * Stores `events` durably. `encoded`, when given, holds `canonicalize(events[i])` for
   * each event (the ledger has it already), so a storage writing canonical JSON need not re-encode.
   */
  append(events: readonly EventEnvelope[], encoded?: readonly string[]): Promise<void>
  close(): Promise<void>
  /** Durably records a signed checkpoint (optional: storages without it keep checkpoints in memory only). */
  appendCheckpoint?(checkpoint: SignedCheckpoint): Promise<void>
  /** Every checkpoint recorded so far, oldest first. */
  loadCheckpoints?(): Promise<SignedCheckpoint[]>
}

export interface LoadedLedger {
  events: EventEnvelope[]
  /** Present when a torn tail (partial last record after a crash) was cut. */
  repaired?: { segment: string, droppedBytes: number, atSeq: number }
  /** True when the storage already verified every hash and link while loading (the ledger then skips re-hashing). */
  verified?: boolean
  /**
   * Present when the hashes are still being checked (on another thread) while
   * shape, seq and links were checked in loading: rejects with the error
   * `load()` would have thrown for a bad hash. The events must not be trusted
   * (nor anything derived from them reported) before it resolves.
   */
  pendingVerification?: Promise<void>
}
