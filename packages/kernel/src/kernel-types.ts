import type { CanonicalValue } from '@os2/crypto'
import type { EventEnvelope, VerifyResult } from './ledger/types.ts'
import type { GrantScope, KernelResponse, KernelToken } from './protocol/schemas.ts'

/**
 * The public contract of a kernel, shared by the embedded shell, the node daemon
 * and (later) attached shells. Implemented in `kernel.ts`; everything here is data
 * that can cross a wire.
 */

/** Everything a kernel's state is a pure function of, besides its input stream. */
export interface Genesis {
  version: 1
  /** Seeds the kernel RNG; different seeds give different ledgers. */
  seed: string
  /** The principal that may grant and revoke (the local operator key id). */
  operator: string
  limits: KernelLimits
  /** Capability defaults (ceiling, rate limit, cost) keyed by capability id, from CapabilityLimits.toml. */
  capabilities: Record<string, CapabilityLimit>
}

export interface KernelLimits {
  /** Largest accepted request, canonical JSON bytes. */
  maxRequestBytes: number
  /** Largest value stored in kernel key/value state or emitted as an event payload, bytes. */
  maxPayloadBytes: number
  /** Budget a token gets for each field it leaves unset. */
  defaultBudget: { tokens: number, memory: number, network: number, wallClockMs: number }
  /** A queued token's effective priority grows by one every this many ticks of waiting. */
  agingTicks: number
}

export interface CapabilityLimit {
  /** Most tokens one invocation may be budgeted. */
  ceiling: number
  /** Token cost charged when an invocation starts. */
  cost: number
  /** Token bucket: capacity and refill per tick; absent = unlimited. */
  rateLimit?: { capacity: number, refillPerTick: number }
}

/** A capability as listed by `cap-list` / `cap-show`. */
export interface CapabilityInfo {
  id: string
  version: number
  description: string
  /** JSON Schema of the invocation arguments (from zod). */
  argsSchema: unknown
  limits: CapabilityLimit
  usage: { invocations: number, tokensCharged: number }
}

export interface Grant {
  id: string
  principal: string
  capability: string
  scope: GrantScope
  validFrom: number
  validUntil: number | null
  version: number
  revoked: boolean
}

export type TokenState = 'scheduled' | 'running' | 'completed' | 'failed' | 'cancelled'

export interface TokenStatus {
  token: KernelToken
  state: TokenState
  submittedSeq: number
  /** The budget in force: explicit fields, the rest from genesis defaults (tokens clamped to the capability ceiling). */
  budget: { tokens: number, memory: number, network: number, wallClockMs: number }
  used: { tokens: number, memory: number, network: number, wallClockMs: number }
  result?: CanonicalValue
  error?: { code: string, message: string }
}

export interface SnapshotSummary {
  id: string
  label: string
  /** Virtual tick when taken. */
  timestamp: number
  ledgerSeq: number
  ledgerHead: string
  stateHash: string
  ready: boolean
}

export interface InclusionProof { leafIndex: number, treeSize: number, leafHash: string, path: string[], root: string }
export interface ConsistencyProof { oldSize: number, newSize: number, oldRoot: string, newRoot: string, path: string[] }
export interface SignedCheckpoint { size: number, root: string, tick: number, publicKey: string, signature: string }

/** Read-only view of the ledger exposed to apps. */
export interface LedgerView {
  readonly size: number
  /** Hash of the last event, or 64 zeros when empty. */
  readonly head: string
  get(seq: number): EventEnvelope | undefined
  events(from?: number, to?: number): Iterable<EventEnvelope>
  root(size?: number): string
  inclusionProof(seq: number, size?: number): InclusionProof
  consistencyProof(oldSize: number, newSize?: number): ConsistencyProof
  verify(): VerifyResult
}

export type ReplayReport =
  | { ok: true, snapshotId: string, eventsReplayed: number, head: string }
  | { ok: false, snapshotId: string, eventsReplayed: number, firstDivergentSeq: number, expected: string, actual: string }

export interface StateDiff {
  from: string
  to: string
  /** Sorted by path; `before`/`after` absent when the entry did not exist. */
  changes: Array<{ path: string, before?: CanonicalValue, after?: CanonicalValue }>
}

export interface Kernel {
  readonly ledger: LedgerView
  readonly genesis: Genesis
  /**
   * The one entry point: validates `request` (zod), applies it, appends its
   * events and resolves once they are durable. Never throws for bad input:
   * it answers `rejected` with a stable error code.
   */
  handle(request: unknown): Promise<KernelResponse>
  /** Runs the scheduler's next runnable token; false when none is runnable. */
  step(): Promise<boolean>
  /** Steps until nothing is runnable; returns how many steps ran. */
  runUntilIdle(): Promise<number>
  capabilities(): CapabilityInfo[]
  grants(): Grant[]
  token(id: string): TokenStatus | undefined
  tokens(): TokenStatus[]
  /** Kernel key/value state, sorted by namespace then key. */
  kv(namespace?: string): Array<{ namespace: string, key: string, value: CanonicalValue }>
  /** Incremental hash of the whole kernel state. */
  stateHash(): string
  readonly snapshots: SnapshotManager
  /** Flushes the ledger and releases storage. */
  close(): Promise<void>
}

export interface SnapshotManager {
  create(label?: string): Promise<SnapshotSummary>
  list(): Promise<SnapshotSummary[]>
  show(id: string): Promise<SnapshotSummary & { state: CanonicalValue }>
  diff(fromId: string, toId: string): Promise<StateDiff>
  /** Replays the kernel's own ledger (or `options.events`, e.g. a copy read from disk) from the snapshot. */
  replay(id: string, options?: { events?: Iterable<EventEnvelope> }): Promise<ReplayReport>
  /** Mints a signed token binding snapshot content hash and ledger head. */
  auth(id: string): Promise<string>
  setReady(id: string): Promise<void>
}
