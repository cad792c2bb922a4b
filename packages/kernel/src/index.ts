/**
 * @packageDocumentation
 * The OS2 kernel: a deterministic, capability-governed scheduler over a
 * persistent state, writing every input and every consequence to a
 * tamper-evident ledger. No I/O of its own: storage, snapshot store, signer and
 * wall clock arrive as components (file adapters are in `@os2/kernel/node`).
 *
 * @example
 * ```ts
 * import { createKernel, createGenesis } from '@os2/kernel'
 * const kernel = await createKernel({}, { genesis: createGenesis({ seed: 42 }) })
 * await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } })
 * await kernel.handle({ type: 'SubmitToken', token: { id: 't1', capability: 'kernel.state.put', principal: 'agent', args: { namespace: 'notes', key: 'a', value: 1 } } })
 * await kernel.runUntilIdle()
 * kernel.kv('notes') // [{ namespace: 'notes', key: 'a', value: 1 }]
 * ```
 */
export { createKernel, replayLedger } from './kernel.ts'
export { createVirtualClock } from './clock.ts'
export { createSeededRng, restoreRng } from './rng.ts'
export { KernelError, KERNEL_ERROR_CODES, isKernelError, assert, unreachable } from './errors.ts'
export { EVENT_TYPES, INPUT_EVENT_TYPES, isInputEventType, isRecordedEventType } from './events.ts'
export { parseCapabilityLimits, createGenesis, parseGenesis, DEFAULT_CAPABILITY_LIMITS } from './limits.ts'
export { createCapabilityRegistry } from './capabilities/capability-registry.ts'
export { BUILTIN_CAPABILITIES } from './capabilities/builtins.ts'
export { defineCapability } from './capabilities/types.ts'
export { checkGrant, scopeGap, hostAllowed, VIOLATION_CODES } from './capabilities/grants.ts'
export { effectivePriority } from './scheduler/scheduler.ts'
export { createState, diffStates } from './state/kernel-state.ts'
export { buildSnapshotRecord, checkSnapshotRecord, materializeSnapshot, snapshotContentHash, SNAPSHOT_FORMAT_VERSION } from './snapshots/snapshot-record.ts'
export { createMemorySnapshotStore } from './snapshots/snapshot-store.ts'
export { verifySnapshotAuth } from './snapshots/snapshot-auth.ts'
export { replayRecorded } from './replay.ts'
export { defaultLedgerFactory } from './default-ledger-factory.ts'
export {
  createLedger, openLedger, verifyEvents, verifyEventInclusion, ChainVerifier, signCheckpoint, verifyCheckpoint,
  checkpointSigningBytes, eventIdFor, envelopeHash, encodeEnvelope, createMemoryLedgerStorage
} from './ledger/index.ts'
export {
  Id, CapabilityId, Budget, KernelToken, GrantScope, GrantSpec, SubmitToken, CancelToken, CreateSnapshot, ListSnapshots,
  GrantCapability, RevokeCapability, StreamEvents, ReplaySnapshot, KernelRequest, KernelResponse, REQUEST_TYPES
} from './protocol/schemas.ts'
export { jsonValue, isJsonValue, MAX_JSON_DEPTH } from './protocol/json-value.ts'

export type { KernelComponents, KernelInit, KernelHandle } from './kernel.ts'
export type { Clock } from './clock.ts'
export type { Rng, RngState } from './rng.ts'
export type { KernelErrorCode } from './errors.ts'
export type { KernelEventType } from './events.ts'
export type { CapabilityLimits } from './limits.ts'
export type { CapabilityRegistry } from './capabilities/capability-registry.ts'
export type { CapabilityDescriptor, AnyCapabilityDescriptor, CapabilityContext, BudgetKind, InvocationScope } from './capabilities/types.ts'
export type { ViolationReason, GrantCheck } from './capabilities/grants.ts'
export type { QueueEntry } from './scheduler/scheduler.ts'
export type { WallClock } from './scheduler/token-run.ts'
export type { StateRoot, StateChange } from './state/kernel-state.ts'
export type { SnapshotRecord } from './snapshots/snapshot-record.ts'
export type { SnapshotStore } from './snapshots/snapshot-store.ts'
export type { SnapshotAuthClaims } from './snapshots/snapshot-auth.ts'
export type { ReplayOutcome, ReplayTarget } from './replay.ts'
export type { KernelLedger, LedgerFactory, OpenedLedger } from './kernel-ledger.ts'
export type { Ledger, LedgerComponents, LedgerInit, ChainFailure, MemoryLedgerStorage } from './ledger/index.ts'
export type { EventEnvelope, EventDraft, VerifyResult, VerifyFailure, LedgerStorage, LoadedLedger } from './ledger/types.ts'
export type {
  Genesis, KernelLimits, CapabilityLimit, CapabilityInfo, Grant, TokenState, TokenStatus, SnapshotSummary, InclusionProof,
  ConsistencyProof, SignedCheckpoint, LedgerView, ReplayReport, StateDiff, Kernel, SnapshotManager
} from './kernel-types.ts'
export type {
  KernelTokenInput, KernelRequestInput, RequestType
} from './protocol/schemas.ts'
