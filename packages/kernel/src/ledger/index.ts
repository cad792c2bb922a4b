/**
 * The tamper-evident ledger: hash chain, Merkle tree, signed checkpoints and
 * the storage port. The file-backed storage lives in `@os2/kernel/node`.
 */
export { createLedger, openLedger, openLedgerVerifying, verifyEventInclusion } from './ledger.ts'
export { verifyEvents, ChainVerifier } from './verify.ts'
export { signCheckpoint, verifyCheckpoint, checkpointSigningBytes } from './checkpoint.ts'
export { eventIdFor, envelopeHash, encodeEnvelope } from './envelope.ts'
export { createMemoryLedgerStorage } from './memory-ledger-storage.ts'
export type { Ledger, LedgerComponents, LedgerInit } from './ledger.ts'
export type { ChainFailure } from './verify.ts'
export type { MemoryLedgerStorage } from './memory-ledger-storage.ts'
export type { EventEnvelope, EventDraft, VerifyResult, VerifyFailure, LedgerStorage, LoadedLedger } from './types.ts'
