/** Why a bundle was not merged; stable codes recorded in the ledger and sent to metrics. */
export const REASON_CODES = [
  'SIGNATURE_INVALID',
  'NO_GRANT',
  'GRANT_REVOKED',
  'GRANT_EXPIRED',
  'OUT_OF_SCOPE',
  'STALE_SEQ',
  'REPLAYED',
  'GAP_HELD',
  'DEPS_HELD',
  'OVERSIZED',
  'MALFORMED',
  'HOLD_FULL'
] as const
export type ReasonCode = typeof REASON_CODES[number]

/** Reasons that keep the bundle for a later retry instead of dropping it. */
export const HELD_REASONS: ReadonlySet<ReasonCode> = new Set(['GAP_HELD', 'DEPS_HELD'])

/** A policy verdict as recorded in the receiver's ledger (`federation.verdict`). */
export interface VerdictRecord {
  verdict: 'accepted' | 'rejected' | 'held'
  reason: ReasonCode | null
  detail: string
  bundle_id: string | null
  origin: string | null
  memory: string | null
  seq: number | null
  /** Peer the bytes came from, when known. */
  from: string | null
}
