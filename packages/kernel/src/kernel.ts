import type { z } from 'zod'
import { canonicalize, hashCanonical, sha256Hex, signToken, ZERO_HASH } from '@os2/crypto'
import type { CanonicalValue, Signer } from '@os2/crypto'
import { createVirtualClock } from './clock.ts'
import type { Clock } from './clock.ts'
import { createSeededRng, restoreRng } from './rng.ts'
import type { Rng, RngState } from './rng.ts'
import { KernelError, isKernelError } from './errors.ts'
import type { KernelErrorCode } from './errors.ts'
import { EVENT_TYPES, isRecordedEventType } from './events.ts'
import type { EventDraft, EventEnvelope, LedgerStorage } from './ledger/types.ts'
import type { KernelLedger, LedgerFactory } from './kernel-ledger.ts'
import { defaultLedgerFactory } from './default-ledger-factory.ts'
import { CancelToken, KernelRequest, REQUEST_TYPES } from './protocol/schemas.ts'
import { quickSubmitToken } from './protocol/quick-parse.ts'
import type { KernelResponse, KernelToken } from './protocol/schemas.ts'
import type {
  CapabilityInfo, Genesis, Grant, Kernel, LedgerView, ReplayReport, SnapshotManager, SnapshotSummary, StateDiff, TokenStatus
} from './kernel-types.ts'
import { createState, diffStates } from './state/kernel-state.ts'
import type { StateRoot } from './state/kernel-state.ts'
import { createCapabilityRegistry } from './capabilities/capability-registry.ts'
import type { CapabilityRegistry } from './capabilities/capability-registry.ts'
import { BUILTIN_CAPABILITIES } from './capabilities/builtins.ts'
import type { AnyCapabilityDescriptor } from './capabilities/types.ts'
import { checkGrant, getGrant, GRANT_SECTION, listGrants, VIOLATION_CODES } from './capabilities/grants.ts'
import type { ViolationReason } from './capabilities/grants.ts'
import { takeFromBucket } from './capabilities/rate-limit.ts'
import type { BucketState } from './capabilities/rate-limit.ts'
import { getToken, putToken, TOKEN_SECTION, tokenState } from './scheduler/scheduler.ts'
import { RunQueue } from './scheduler/run-queue.ts'
import type { QueueEntry } from './scheduler/scheduler.ts'
import { KV_PREFIX, TokenRun } from './scheduler/token-run.ts'
import type { Metered, TokenRunHooks, WallClock } from './scheduler/token-run.ts'
import { buildSnapshotRecord, materializeSnapshot } from './snapshots/snapshot-record.ts'
import type { SnapshotRecord } from './snapshots/snapshot-record.ts'
import { createMemorySnapshotStore } from './snapshots/snapshot-store.ts'
import type { SnapshotStore } from './snapshots/snapshot-store.ts'
import { lastSnapshotId, META_SECTION, nextSnapshotId, registerSnapshot, snapshotCount } from './snapshots/register-snapshot.ts'
import { replayRecorded } from './replay.ts'
import { canonicalEqual } from './canonical-equal.ts'
import { canonicalByteLength } from './canonical-size.ts'
import type { ReplayTarget } from './replay.ts'
import { verifyEvents } from './ledger/index.ts'
import { createReplayLedger } from './ledger/replay-ledger.ts'

/** Collaborators. Everything is optional; the defaults make an in-memory kernel. */
export interface KernelComponents {
  /** Virtual clock (default: a fresh one at tick 0). */
  clock?: Clock
  /** Seeded RNG (default: derived from `genesis.seed`; pass one only in tests). */
  rng?: Rng
  /** Durable ledger storage (default: none, the ledger lives in memory). */
  storage?: LedgerStorage
  /** Snapshot store (default: in memory). */
  snapshots?: SnapshotStore
  /** Node key, for `snapshot-auth` tokens. */
  signer?: Signer
  /** Wall clock in ms for wall-clock budgets, read only around external calls. */
  wallClock?: WallClock
  /** Ledger implementation for the kernel's own ledger (default: `@os2/kernel`'s); replays write into a chain tail of their own. */
  ledgers?: LedgerFactory
}

export interface KernelInit {
  genesis: Genesis
  /** Extra capabilities (sandbox, federation), registered beside the built-ins. */
  descriptors?: readonly AnyCapabilityDescriptor[]
}

/** The kernel with its internals needed by tests and benches. */
export interface KernelHandle extends Kernel {
  /** The capability registry (descriptors and effective limits). */
  readonly registry: CapabilityRegistry
  /** The current persistent state root. */
  readonly state: StateRoot
  /**
   * Appends an `alert` event with `payload` and resolves once it is durable.
   * For apps that must leave a trace of something outside the protocol (a
   * refused shell attach, an integrity failure seen elsewhere); replay
   * re-applies it verbatim like any recorded input.
   */
  recordAlert(payload: Record<string, CanonicalValue>): Promise<EventEnvelope>
  /**
   * Appends an event of a dotted type (`federation.verdict`, `memory.commit`)
   * for a component outside the protocol, through the same serialised path as
   * requests, and resolves once it is durable. Replay re-appends it as an
   * input. Rejects with `BAD_REQUEST` for a type without a dot (kernel types
   * are reserved) and `PAYLOAD_TOO_LARGE` above `limits.maxPayloadBytes`.
   */
  record(type: string, payload: Record<string, CanonicalValue>): Promise<EventEnvelope>
}

type Validation =
  | { ok: true, request: KernelRequest }
  | { ok: false, code: KernelErrorCode, message: string, info: Record<string, CanonicalValue | undefined> }

interface PendingSnapshot { root: StateRoot, id: string, label: string, parent: string | null, stateHash: string, eventSeq: number }

const ZERO_USED: Metered = { tokens: 0, memory: 0, network: 0, wallClockMs: 0 }
const TERMINAL = new Set(['completed', 'failed', 'cancelled'])

/** Why a token failed, as `#failToken` records it: a `KernelError`, or the same fields without an error object. */
type TokenFailure = Pick<KernelError, 'code' | 'message' | 'details' | 'toWire'>

/**
 * A failure the kernel records but never throws (violations, dependency
 * failures): the fields of a `KernelError` without the stack capture of
 * building one, which cost ~3% of a replay with many refused tokens.
 */
function tokenFailure (code: KernelErrorCode, message: string, details: Record<string, unknown>): TokenFailure {
  return { code, message, details, toWire: () => ({ code, message }) }
}

function isThenable (value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
}

function firstIssue (error: z.ZodError): string {
  const issue = error.issues[0]
  if (issue === undefined) return 'invalid'
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'
  return `${path}: ${issue.message}`
}

class DefaultKernel implements KernelHandle, ReplayTarget {
  readonly genesis: Genesis
  readonly registry: CapabilityRegistry
  readonly snapshots: SnapshotManager
  readonly #descriptors: readonly AnyCapabilityDescriptor[]
  readonly #clock: Clock
  #rng: Rng
  #ledger: KernelLedger
  #state: StateRoot
  readonly #store: SnapshotStore
  readonly #signer: Signer | undefined
  readonly #wallClock: WallClock | undefined
  readonly #storageOwned: LedgerStorage | undefined
  #lock: Promise<unknown> = Promise.resolve()
  #recorded: readonly EventEnvelope[] | undefined
  /**
   * The recorded events when their hashes and links are verified (replay of a
   * verified ledger): an event produced at seq i that matches recorded[i] field
   * by field is appended as recorded, without encoding and hashing it again.
   */
  #trusted: readonly EventEnvelope[] | undefined
  /** Whether every event of this kernel's own ledger was verified (opened with verification) or made here. */
  #ledgerVerified = true
  #pending: PendingSnapshot[] = []
  #roots = new Map<string, StateRoot>()
  #rebuilding = false
  #closed = false
  #running: TokenRun | undefined
  readonly #parsedArgs = new WeakMap<object, unknown>()
  readonly #queue = new RunQueue()
  /** CancelToken requests delivered to a running token, by token id, until answered. */
  readonly #interrupts = new Map<string, unknown>()
  /** What every token run calls back into (one object per kernel, not per run). */
  readonly #runHooks: TokenRunHooks

  constructor (parts: {
    genesis: Genesis
    descriptors: readonly AnyCapabilityDescriptor[]
    registry: CapabilityRegistry
    clock: Clock
    rng: Rng
    ledger: KernelLedger
    state: StateRoot
    store: SnapshotStore
    signer: Signer | undefined
    wallClock: WallClock | undefined
    storage: LedgerStorage | undefined
  }) {
    this.genesis = parts.genesis
    this.#descriptors = parts.descriptors
    this.registry = parts.registry
    this.#clock = parts.clock
    this.#rng = parts.rng
    this.#ledger = parts.ledger
    this.#state = parts.state
    this.#store = parts.store
    this.#signer = parts.signer
    this.#wallClock = parts.wallClock
    this.#storageOwned = parts.storage
    this.snapshots = this.#snapshotManager()
    this.#runHooks = {
      clock: this.#clock,
      append: (type, payload, ids) => this.#append(type, payload, ids),
      recordedNext: () => this.#recorded?.[this.#ledger.size],
      random: () => this.#rng.nextUint32(),
      wallClock: this.#wallClock,
      maxPayloadBytes: this.genesis.limits.maxPayloadBytes,
      registry: this.registry
    }
  }

  get ledger (): KernelLedger & LedgerView { return this.#ledger }
  get state (): StateRoot { return this.#state }

  // ---- boot ---------------------------------------------------------------

  writeGenesis (): void {
    this.#append(EVENT_TYPES.genesis, {
      genesis_hash: hashCanonical(this.genesis as unknown as CanonicalValue),
      genesis: this.genesis as unknown as CanonicalValue
    })
    this.#saveRng()
  }

  /** Rebuilds state by replaying the opened ledger's inputs from genesis into a scratch kernel. */
  async rebuild (): Promise<void> {
    const recorded = [...this.#ledger.events()]
    const first = recorded[0]
    const expected = hashCanonical(this.genesis as unknown as CanonicalValue)
    if (first?.type !== EVENT_TYPES.genesis || first.payload.genesis_hash !== expected) {
      throw new KernelError('GENESIS_INVALID', `Cannot open ledger: its genesis event does not match genesis ${expected}`)
    }
    const scratch = this.#scratch(createReplayLedger(0, ZERO_HASH), createState(), createVirtualClock(0), createSeededRng(this.genesis.seed))
    scratch.#rebuilding = true
    scratch.#recorded = recorded
    if (this.#ledgerVerified) scratch.#trusted = recorded
    const outcome = await replayRecordedFromGenesis(scratch, recorded)
    if (!outcome.ok) {
      throw new KernelError('REPLAY_DIVERGED', `Cannot open ledger: ${outcome.message}`, {
        details: { firstDivergentSeq: outcome.firstDivergentSeq, expected: outcome.expected, actual: outcome.actual }
      })
    }
    this.#state = scratch.#state
    this.#roots = scratch.#roots
    this.#rng = scratch.#rng
    const lag = scratch.#clock.now() - this.#clock.now()
    if (lag > 0) this.#clock.advance(lag)
  }

  /** Whether the opened ledger's events were all verified (set once by `createKernel`). */
  set ledgerVerified (verified: boolean) { this.#ledgerVerified = verified }

  appendAlert (payload: Record<string, CanonicalValue>): void {
    this.#append(EVENT_TYPES.alert, payload)
  }

  recordAlert (payload: Record<string, CanonicalValue>): Promise<EventEnvelope> {
    return this.#exclusive(async () => {
      const event = this.#append(EVENT_TYPES.alert, payload)
      await this.#ledger.flush()
      return event
    })
  }

  record (type: string, payload: Record<string, CanonicalValue>): Promise<EventEnvelope> {
    if (!isRecordedEventType(type)) {
      return Promise.reject(new KernelError('BAD_REQUEST', `Cannot record event type ${JSON.stringify(type.slice(0, 80))}: expected a dotted type such as federation.verdict`))
    }
    const bytes = canonicalByteLength(payload)
    if (bytes > this.genesis.limits.maxPayloadBytes) {
      return Promise.reject(new KernelError('PAYLOAD_TOO_LARGE', `Cannot record ${type}: payload is ${bytes} bytes, the limit is ${this.genesis.limits.maxPayloadBytes}`))
    }
    return this.#exclusive(async () => {
      const event = this.#append(type, payload)
      await this.#ledger.flush()
      return event
    })
  }

  #scratch (ledger: KernelLedger, state: StateRoot, clock: Clock, rng: Rng, store?: SnapshotStore): DefaultKernel {
    return new DefaultKernel({
      genesis: this.genesis,
      descriptors: this.#descriptors,
      registry: this.registry,
      clock,
      rng,
      ledger,
      state,
      store: store ?? this.#store,
      signer: this.#signer,
      wallClock: this.#wallClock,
      storage: undefined
    })
  }

  // ---- plumbing -----------------------------------------------------------

  #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(async () => {
      if (this.#closed) throw new KernelError('INTERNAL', 'Cannot use the kernel: it is closed')
      return await fn()
    })
    this.#lock = run.catch(() => undefined)
    return run
  }

  #append (type: string, payload: Record<string, CanonicalValue | undefined>, ids: { capability_id?: string | null, token_id?: string | null } = {}): EventEnvelope {
    const draft: EventDraft = { tick: this.#clock.now(), type, capability_id: ids.capability_id ?? null, token_id: ids.token_id ?? null, payload }
    const trusted = this.#trusted
    if (trusted !== undefined) {
      // Replay of a verified ledger: the same fields as the verified recorded event mean the same
      // canonical bytes and so the same hash; anything else is appended (and hashed) as usual, so a
      // divergence is still reported hash against hash.
      const ledger = this.#ledger
      const expected = trusted[ledger.size]
      if (expected !== undefined && ledger.appendVerified !== undefined && expected.tick === draft.tick && expected.type === type &&
        expected.capability_id === draft.capability_id && expected.token_id === draft.token_id && canonicalEqual(payload, expected.payload)) {
        const appended = ledger.appendVerified(expected)
        if (appended !== undefined) return appended
      }
    }
    return this.#ledger.append(draft)
  }

  #saveRng (): void {
    const next = this.#rng.state()
    const saved = this.#state.get(META_SECTION, 'rng') as unknown as RngState | undefined
    if (saved !== undefined && saved.state === next.state && saved.inc === next.inc) return
    this.#state = this.#state.set(META_SECTION, 'rng', next as unknown as CanonicalValue)
  }

  #counter (name: string): number {
    const n = this.#state.get(META_SECTION, name)
    const next = (typeof n === 'number' ? n : 0) + 1
    this.#state = this.#state.set(META_SECTION, name, next)
    return next
  }

  #respond (disposition: KernelResponse['disposition'], result?: unknown, error?: { code: string, message: string }): KernelResponse {
    const res: KernelResponse = { disposition, ledgerSeq: this.#ledger.size - 1, ledgerHash: this.#ledger.head }
    if (result !== undefined) res.result = result
    if (error !== undefined) res.error = error
    return res
  }

  #reject (code: KernelErrorCode, message: string, info: Record<string, CanonicalValue | undefined>): KernelResponse {
    this.#append(EVENT_TYPES.requestRejected, { code, message, ...info })
    return this.#respond('rejected', undefined, { code, message })
  }

  // ---- protocol -----------------------------------------------------------

  handle (request: unknown): Promise<KernelResponse> {
    // A CancelToken for the token running right now cannot wait for its turn: it
    // reaches the run at once and stops it at its next metering point.
    const running = this.#running
    if (running !== undefined && typeof request === 'object' && request !== null &&
      (request as { type?: unknown }).type === 'CancelToken' && (request as { tokenId?: unknown }).tokenId === running.token.id) {
      const parsed = CancelToken.safeParse(request)
      if (parsed.success) {
        running.requestCancel(parsed.data as unknown as CanonicalValue)
        this.#interrupts.set(running.token.id, parsed.data)
      }
    }
    return this.#exclusive(async () => {
      try {
        return await this.#handleNow(request)
      } finally {
        await this.#ledger.flush()
      }
    })
  }

  #validate (request: unknown, recorded: boolean): Validation {
    // A request read back from the ledger was accepted under the same genesis limits:
    // replay skips re-encoding it just to measure it (the ledger hash covers it anyway).
    if (!recorded) {
      let bytes: number
      try {
        bytes = canonicalByteLength(request)
      } catch (err) {
        return { ok: false, code: 'BAD_REQUEST', message: `Cannot read request: ${(err as Error).message}`, info: {} }
      }
      const max = this.genesis.limits.maxRequestBytes
      if (bytes > max) {
        return { ok: false, code: 'PAYLOAD_TOO_LARGE', message: `Request is ${bytes} bytes, the limit is ${max}`, info: { request_hash: sha256Hex(canonicalize(request)), request_bytes: bytes } }
      }
    }
    const info = { request: request as CanonicalValue }
    if (typeof request !== 'object' || request === null || Array.isArray(request)) {
      return { ok: false, code: 'BAD_REQUEST', message: 'Request must be a JSON object', info }
    }
    const type = (request as Record<string, unknown>).type
    if (typeof type !== 'string' || !(REQUEST_TYPES as readonly string[]).includes(type)) {
      return { ok: false, code: 'UNKNOWN_REQUEST_TYPE', message: `Unknown request type ${JSON.stringify(type ?? null)}: expected one of ${REQUEST_TYPES.join(', ')}`, info }
    }
    const quick = quickSubmitToken(request)
    const parsed = quick !== undefined ? { success: true as const, data: quick } : KernelRequest.safeParse(request)
    if (!parsed.success) {
      return { ok: false, code: 'SCHEMA_VIOLATION', message: `Invalid ${type} request: ${firstIssue(parsed.error)}`, info }
    }
    const req = parsed.data
    if (req.type === 'SubmitToken' || req.type === 'GrantCapability') {
      const cap = req.type === 'SubmitToken' ? req.token.capability : req.grant.capability
      if (!this.registry.has(cap)) {
        return { ok: false, code: 'UNKNOWN_CAPABILITY', message: `Unknown capability ${cap}: no descriptor has this id`, info }
      }
    }
    if (req.type === 'SubmitToken') {
      const descriptor = this.registry.get(req.token.capability)
      const quickArgs = descriptor.quickArgs?.(req.token.args)
      const args = quickArgs !== undefined ? { success: true as const, data: quickArgs } : descriptor.args.safeParse(req.token.args)
      if (!args.success) {
        return { ok: false, code: 'SCHEMA_VIOLATION', message: `Invalid arguments for ${req.token.capability}: ${firstIssue(args.error)}`, info }
      }
      this.#parsedArgs.set(req.token, args.data)
    }
    if (req.type === 'GrantCapability' && req.grant.validFrom !== undefined && req.grant.validUntil !== undefined && req.grant.validUntil <= req.grant.validFrom) {
      return { ok: false, code: 'SCHEMA_VIOLATION', message: 'Invalid GrantCapability request: grant.validUntil must be after grant.validFrom', info }
    }
    return { ok: true, request: req }
  }

  /** Handles one request; synchronous unless it has to wait for the snapshot store. */
  #handleNow (request: unknown, recorded = false): KernelResponse | Promise<KernelResponse> {
    const v = this.#validate(request, recorded)
    if (!v.ok) return this.#reject(v.code, v.message, v.info)
    const req = v.request
    const info = { request: req as unknown as CanonicalValue }
    switch (req.type) {
      case 'StreamEvents': {
        const end = req.limit === undefined ? this.#ledger.size : Math.min(this.#ledger.size, req.since + req.limit)
        const events = req.since >= end ? [] : [...this.#ledger.events(req.since, end)]
        return this.#respond('accepted', { events, next: end, size: this.#ledger.size })
      }
      case 'ListSnapshots':
        return this.#listSnapshots().then(snapshots => this.#respond('accepted', { snapshots }))
      case 'ReplaySnapshot':
        return this.#replaySnapshotRequest(req.snapshotId)
      case 'CreateSnapshot':
        return this.#createSnapshotRequest(req.label, info)
    }
    let value: KernelResponse
    try {
      switch (req.type) {
        case 'SubmitToken': value = this.#submit(req.token, info); break
        case 'CancelToken': value = this.#cancel(req.tokenId, req.reason, info); break
        case 'GrantCapability': value = this.#grant(req, info); break
        case 'RevokeCapability': value = this.#revoke(req, info); break
      }
    } catch (err) {
      const waiting = this.#unitFailed(err)
      if (waiting !== undefined) return waiting
      throw err
    }
    return this.#unit(value)
  }

  async #replaySnapshotRequest (snapshotId: string): Promise<KernelResponse> {
    if (!(await this.#store.has(snapshotId))) return this.#respond('rejected', undefined, { code: 'UNKNOWN_SNAPSHOT', message: `Unknown snapshot ${snapshotId}` })
    const report = await this.#replaySnapshot(snapshotId, undefined)
    return this.#respond('accepted', report)
  }

  async #createSnapshotRequest (label: string | undefined, info: Record<string, CanonicalValue>): Promise<KernelResponse> {
    let id: string
    try {
      this.#append(EVENT_TYPES.request, info)
      id = this.#takeSnapshot(label ?? `snapshot ${snapshotCount(this.#state) + 1}`, null)
    } catch (err) {
      await this.#unitFailed(err)
      throw err
    }
    await this.#unit(undefined)
    return this.#respond('accepted', await this.#summary(id))
  }

  /**
   * Ends one unit of work (a request or a step) that produced `value`: records
   * the clock in state (`meta/tick`) and stores the snapshots the unit took
   * (the only part that may have to wait). A restored snapshot applies the
   * same tick rule, so replay from it matches. The unit's own work runs
   * synchronously before this is called, so replay pays no promise per event.
   */
  #unit<T> (value: T): T | Promise<T> {
    this.#state = syncTick(this.#state, this.#clock.now())
    if (this.#pending.length === 0) return value
    return this.#finishSnapshots().then(() => value)
  }

  /** Ends a unit of work whose body threw: the same bookkeeping as `#unit`, then the caller rethrows. */
  #unitFailed (err: unknown): Promise<never> | undefined {
    this.#state = syncTick(this.#state, this.#clock.now())
    if (this.#pending.length === 0) return undefined
    return this.#finishSnapshots().then(() => { throw err })
  }

  replayInput (event: EventEnvelope): void | Promise<void> {
    if (event.type === EVENT_TYPES.request) {
      const done = this.#handleNow((event.payload.request ?? null) as CanonicalValue, true)
      return done instanceof Promise ? done.then(() => undefined) : undefined
    }
    if (this.#trusted?.[this.#ledger.size] === event && this.#ledger.appendVerified?.(event) !== undefined) return
    this.#ledger.append({ tick: event.tick, type: event.type, capability_id: event.capability_id, token_id: event.token_id, payload: event.payload })
  }

  /** Serves recorded external results (replay only). */
  setRecorded (events: readonly EventEnvelope[]): void {
    this.#recorded = events
  }

  replayStep (): boolean | Promise<boolean> {
    return this.#stepNow()
  }

  // ---- grants -------------------------------------------------------------

  #grant (req: Extract<KernelRequest, { type: 'GrantCapability' }>, info: Record<string, CanonicalValue>): KernelResponse {
    const from = req.from ?? this.genesis.operator
    if (from !== this.genesis.operator) {
      return this.#reject('CAPABILITY_DENIED', `Cannot grant ${req.grant.capability}: only the operator ${this.genesis.operator} may grant, not ${from}`, info)
    }
    this.#append(EVENT_TYPES.request, info, { capability_id: req.grant.capability })
    const n = this.#counter('grants')
    const id = `grant-${n}-${this.#rng.nextHex(3)}`
    this.#saveRng()
    const spec = req.grant
    const grant: Grant = {
      id,
      principal: spec.principal,
      capability: spec.capability,
      scope: spec.scope,
      validFrom: spec.validFrom ?? this.#clock.now(),
      validUntil: spec.validUntil ?? null,
      version: 1,
      revoked: false
    }
    this.#state = this.#state.set(GRANT_SECTION, id, grant as unknown as CanonicalValue)
    this.#append(EVENT_TYPES.grantCreated, { grant: grant as unknown as CanonicalValue }, { capability_id: grant.capability })
    return this.#respond('accepted', { grant })
  }

  #revoke (req: Extract<KernelRequest, { type: 'RevokeCapability' }>, info: Record<string, CanonicalValue>): KernelResponse {
    const from = req.from ?? this.genesis.operator
    if (from !== this.genesis.operator) {
      return this.#reject('CAPABILITY_DENIED', `Cannot revoke ${req.grantId}: only the operator ${this.genesis.operator} may revoke, not ${from}`, info)
    }
    const grant = getGrant(this.#state, req.grantId)
    if (grant === undefined) return this.#reject('UNKNOWN_GRANT', `Unknown grant ${req.grantId}`, info)
    if (grant.revoked) return this.#reject('GRANT_REVOKED', `Cannot revoke ${req.grantId}: it is already revoked`, info)
    this.#append(EVENT_TYPES.request, info, { capability_id: grant.capability })
    const next: Grant = { ...grant, version: grant.version + 1, revoked: true }
    this.#state = this.#state.set(GRANT_SECTION, grant.id, next as unknown as CanonicalValue)
    this.#append(EVENT_TYPES.grantRevoked, { grant_id: grant.id, version: next.version, ...(req.reason !== undefined ? { reason: req.reason } : {}) }, { capability_id: grant.capability })
    return this.#respond('accepted', { grant: next })
  }

  // ---- tokens -------------------------------------------------------------

  #resolveBudget (token: KernelToken, ceiling: number): Metered {
    const d = this.genesis.limits.defaultBudget
    return {
      tokens: token.budget.tokens ?? Math.min(d.tokens, ceiling),
      memory: token.budget.memory ?? d.memory,
      network: token.budget.network ?? d.network,
      wallClockMs: token.budget.wallClockMs ?? d.wallClockMs
    }
  }

  #submit (token: KernelToken, info: Record<string, CanonicalValue>): KernelResponse {
    if (tokenState(this.#state, token.id) !== undefined) return this.#reject('DUPLICATE_TOKEN', `Cannot submit ${token.id}: a token with this id already exists`, info)
    for (const dep of token.after) {
      if (tokenState(this.#state, dep) === undefined) return this.#reject('UNKNOWN_TOKEN', `Cannot submit ${token.id}: it runs after unknown token ${dep}`, info)
    }
    const ids = { capability_id: token.capability, token_id: token.id }
    const requestEvent = this.#append(EVENT_TYPES.request, info, ids)
    const descriptor = this.registry.get(token.capability)
    const limits = this.registry.limits(token.capability)
    const status: TokenStatus = {
      token,
      state: 'scheduled',
      submittedSeq: requestEvent.seq,
      budget: this.#resolveBudget(token, limits.ceiling),
      used: { ...ZERO_USED }
    }
    if (token.budget.tokens !== undefined && token.budget.tokens > limits.ceiling) {
      const err = new KernelError('CEILING_EXCEEDED', `Cannot submit ${token.id}: budget of ${token.budget.tokens} tokens exceeds the ${token.capability} ceiling of ${limits.ceiling}`, {
        details: { violation: 'ceiling_exceeded', detail: `budget ${token.budget.tokens} > ceiling ${limits.ceiling}`, limit: limits.ceiling, requested: token.budget.tokens }
      })
      this.#failToken(status, err)
      return this.#respond('rejected', { tokenId: token.id }, err.toWire())
    }
    const args = this.#args(token)
    const scope = descriptor.scope?.(args) ?? {}
    const check = checkGrant(this.#state, token.principal, token.capability, scope, this.#clock.now())
    if (!check.ok) {
      const err = this.#violationError(check.reason, check.detail, check.grantId)
      this.#failToken(status, err)
      return this.#respond('rejected', { tokenId: token.id }, err.toWire())
    }
    // Submission order is the seq of the request event: unique, increasing, free.
    const order = requestEvent.seq
    const entry: QueueEntry = { priority: token.priority, order, since: this.#clock.now(), after: token.after }
    this.#state = this.#queue.add(putToken(this.#state, status), token.id, entry)
    this.#append(EVENT_TYPES.scheduled, { priority: token.priority, after: token.after, budget: status.budget, order }, ids)
    const deadDep = token.after.find(dep => {
      const s = tokenState(this.#state, dep)
      return s === 'failed' || s === 'cancelled'
    })
    if (deadDep !== undefined) {
      const err = tokenFailure('DEPENDENCY_FAILED', `Token ${token.id} cannot run: dependency ${deadDep} did not complete`, { dependency: deadDep })
      this.#failToken(status, err)
      return this.#respond('rejected', { tokenId: token.id }, err.toWire())
    }
    return this.#respond('queued', { tokenId: token.id, order })
  }

  /** The token's arguments parsed by its descriptor (cached per stored token object). */
  #args (token: KernelToken): unknown {
    let args = this.#parsedArgs.get(token)
    if (args === undefined) {
      args = this.registry.get(token.capability).args.parse(token.args)
      this.#parsedArgs.set(token, args)
    }
    return args
  }

  #violationError (reason: ViolationReason, detail: string, grantId?: string): TokenFailure {
    return tokenFailure(VIOLATION_CODES[reason], `Capability violation (${reason}): ${detail}`, { violation: reason, detail, ...(grantId !== undefined ? { grantId } : {}) })
  }

  /** Records why a token failed (violation / budget events first), fails it and everything queued after it. */
  #failToken (status: TokenStatus, err: TokenFailure): void {
    const ids = { capability_id: status.token.capability, token_id: status.token.id }
    const d = err.details ?? {}
    if (typeof d.violation === 'string') {
      this.#append(EVENT_TYPES.capabilityViolation, {
        reason: d.violation,
        code: err.code,
        detail: typeof d.detail === 'string' ? d.detail : err.message,
        ...(typeof d.grantId === 'string' ? { grant_id: d.grantId } : {}),
        ...(typeof d.limit === 'number' ? { limit: d.limit } : {}),
        ...(typeof d.requested === 'number' ? { requested: d.requested } : {})
      }, ids)
    } else if (err.code === 'BUDGET_EXCEEDED') {
      this.#append(EVENT_TYPES.resourceBudgetExceeded, { kind: d.kind as string, limit: d.limit as number, used: d.used as number }, ids)
    }
    const error = err.toWire()
    const failed: TokenStatus = { ...status, state: 'failed', error }
    this.#state = this.#queue.remove(putToken(this.#state, failed), status.token.id)
    this.#append(EVENT_TYPES.failed, { code: error.code, message: error.message, used: status.used, ...(typeof d.dependency === 'string' ? { dependency: d.dependency } : {}) }, ids)
    this.#cascade(status.token.id)
  }

  #cascade (id: string): void {
    for (const dep of this.#queue.dependents(this.#state, id)) {
      const status = getToken(this.#state, dep)
      if (status === undefined || TERMINAL.has(status.state)) continue
      this.#failToken(status, tokenFailure('DEPENDENCY_FAILED', `Token ${dep} cannot run: dependency ${id} did not complete`, { dependency: id }))
    }
  }

  #cancel (tokenId: string, reason: string | undefined, info: Record<string, CanonicalValue>): KernelResponse {
    const status = getToken(this.#state, tokenId)
    const interrupt = this.#interrupts.get(tokenId)
    if (interrupt !== undefined) {
      this.#interrupts.delete(tokenId)
      // Delivered while the token ran: the `interrupt` event already recorded this request.
      if (status?.state === 'cancelled' && canonicalize(interrupt) === canonicalize(info.request)) {
        return this.#respond('accepted', { tokenId, was: 'running' })
      }
    }
    if (status === undefined) return this.#reject('UNKNOWN_TOKEN', `Cannot cancel ${tokenId}: no token has this id`, info)
    if (TERMINAL.has(status.state)) return this.#reject('TOKEN_NOT_CANCELLABLE', `Cannot cancel ${tokenId}: it has already ${status.state}`, info)
    const ids = { capability_id: status.token.capability, token_id: tokenId }
    this.#append(EVENT_TYPES.request, info, ids)
    const error = { code: 'TOKEN_CANCELLED', message: reason ?? 'Cancelled by request' }
    this.#state = this.#queue.remove(putToken(this.#state, { ...status, state: 'cancelled', error }), tokenId)
    this.#append(EVENT_TYPES.cancelled, { ...(reason !== undefined ? { reason } : {}), was: status.state }, ids)
    this.#cascade(tokenId)
    return this.#respond('accepted', { tokenId })
  }

  step (): Promise<boolean> {
    return this.#exclusive(async () => {
      try {
        return await this.#stepNow()
      } finally {
        await this.#ledger.flush()
      }
    })
  }

  async runUntilIdle (): Promise<number> {
    let n = 0
    while (await this.step()) n++
    return n
  }

  /** One scheduler step; synchronous unless the handler or the snapshot store has to wait. */
  #stepNow (): boolean | Promise<boolean> {
    const tick = this.#clock.now()
    const picked = this.#queue.pick(this.#state, tick, this.genesis.limits.agingTicks)
    if (picked === undefined) return false
    const status = getToken(this.#state, picked.id)
    if (status === undefined) throw new KernelError('INTERNAL', `Queued token ${picked.id} has no record`)
    let running: void | Promise<void>
    try {
      running = this.#run(status, picked.effectivePriority, picked.waited)
    } catch (err) {
      return this.#stepFailed(tick, err)
    }
    if (running === undefined) return this.#stepDone(tick)
    return running.then(() => this.#stepDone(tick), (err: unknown) => this.#stepFailed(tick, err))
  }

  #stepDone (tick: number): true | Promise<true> {
    // Every step moves time, so aging and rate-limit refills always progress.
    if (this.#clock.now() === tick) this.#clock.advance(1)
    return this.#unit(true)
  }

  #stepFailed (tick: number, err: unknown): Promise<never> {
    if (this.#clock.now() === tick) this.#clock.advance(1)
    const waiting = this.#unitFailed(err)
    if (waiting !== undefined) return waiting
    throw err
  }

  /** Runs a picked token; returns a promise only when its handler returns one. */
  #run (status: TokenStatus, effectivePriority: number, waited: number): void | Promise<void> {
    const token = status.token
    const descriptor = this.registry.get(token.capability)
    const limits = this.registry.limits(token.capability)
    const args = this.#args(token)
    const scope = descriptor.scope?.(args) ?? {}
    this.#state = this.#queue.remove(this.#state, token.id)
    const check = checkGrant(this.#state, token.principal, token.capability, scope, this.#clock.now())
    if (!check.ok) {
      this.#failToken(status, this.#violationError(check.reason, check.detail, check.grantId))
      return
    }
    if (limits.rateLimit !== undefined) {
      const bucket = this.#state.get('bucket', token.capability) as unknown as BucketState | undefined
      const taken = takeFromBucket(limits.rateLimit, bucket, this.#clock.now())
      if (taken === undefined) {
        this.#failToken(status, this.#violationError('rate_limited', `the ${token.capability} rate limit (${limits.rateLimit.capacity} per bucket, ${limits.rateLimit.refillPerTick} per tick) is exhausted at tick ${this.#clock.now()}`))
        return
      }
      this.#state = this.#state.set('bucket', token.capability, taken as unknown as CanonicalValue)
    }
    // The token is `running` only inside this step (mutations are serialised), so its
    // record goes straight from `scheduled` to `completed` / `failed`.
    const running: TokenStatus = { ...status, state: 'running' }
    const run = new TokenRun(token, check.grant, status.budget, this.#state, this.#runHooks)
    this.#append(EVENT_TYPES.started, { effective_priority: effectivePriority, waited, grant_id: check.grant.id, grant_version: check.grant.version }, run.ids)
    this.#running = run
    let out: unknown
    try {
      run.charge('tokens', limits.cost)
      out = descriptor.handler(args, run)
    } catch (err) {
      this.#running = undefined
      this.#runFailed(run, running, err)
      return
    }
    if (isThenable(out)) {
      return Promise.resolve(out).then(
        value => { this.#running = undefined; this.#runReturned(run, running, value) },
        (err: unknown) => { this.#running = undefined; this.#runFailed(run, running, err) }
      )
    }
    this.#running = undefined
    this.#runReturned(run, running, out)
  }

  /** The handler returned: check the run and its result, then commit the draft, or fail the token. */
  #runReturned (run: TokenRun, running: TokenStatus, value: unknown): void {
    const token = run.token
    let result: CanonicalValue
    try {
      result = (value ?? null) as CanonicalValue
      if (run.halted !== undefined) throw run.halted
      const bytes = canonicalByteLength(result)
      if (bytes > this.genesis.limits.maxPayloadBytes) {
        throw new KernelError('PAYLOAD_TOO_LARGE', `Result of ${token.id} is ${bytes} bytes, the limit is ${this.genesis.limits.maxPayloadBytes}`)
      }
    } catch (err) {
      this.#runFailed(run, running, err)
      return
    }
    this.#state = run.draft
    this.#saveRng()
    this.#chargeUsage(token.capability, run.used.tokens)
    const done: TokenStatus = { ...running, state: 'completed', used: { ...run.used }, result }
    this.#state = putToken(this.#state, done)
    for (const label of run.snapshotLabels) this.#takeSnapshot(label, token.id)
    this.#append(EVENT_TYPES.completed, { result, used: { ...run.used } }, run.ids)
  }

  /** The handler threw (or its result was refused): drop the draft and fail or cancel the token. */
  #runFailed (run: TokenRun, running: TokenStatus, err: unknown): void {
    const token = run.token
    const kerr = isKernelError(err)
      ? err
      : new KernelError('HANDLER_FAILED', `Capability ${token.capability} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err })
    this.#saveRng()
    this.#chargeUsage(token.capability, run.used.tokens)
    if (kerr.code === 'TOKEN_CANCELLED') {
      this.#state = putToken(this.#state, { ...running, state: 'cancelled', used: { ...run.used }, error: kerr.toWire() })
      this.#append(EVENT_TYPES.cancelled, { was: 'running', used: { ...run.used } }, run.ids)
      this.#cascade(token.id)
      return
    }
    this.#failToken({ ...running, used: { ...run.used } }, kerr)
  }

  #usage (capability: string): { invocations: number, tokensCharged: number } {
    const u = this.#state.get('usage', capability) as { invocations: number, tokensCharged: number } | undefined
    return u ?? { invocations: 0, tokensCharged: 0 }
  }

  /** Counts one invocation and the tokens it was charged. */
  #chargeUsage (capability: string, tokens: number): void {
    const u = this.#usage(capability)
    this.#state = this.#state.set('usage', capability, { invocations: u.invocations + 1, tokensCharged: u.tokensCharged + tokens })
  }

  // ---- snapshots ----------------------------------------------------------

  /** Captures the current root (O(1)), appends `snapshot_created` and registers it; the record is stored at the end of the unit. */
  #takeSnapshot (label: string, tokenId: string | null): string {
    const root = this.#state
    const id = nextSnapshotId(root)
    const parent = lastSnapshotId(root)
    const stateHash = root.hash()
    const event = this.#append(EVENT_TYPES.snapshotCreated, { id, label, state_hash: stateHash, parent }, tokenId === null ? {} : { token_id: tokenId })
    this.#roots.set(id, root)
    this.#pending.push({ root, id, label, parent, stateHash, eventSeq: event.seq })
    this.#state = registerSnapshot(root, { id, label, parent, stateHash, eventSeq: event.seq })
    return id
  }

  async #finishSnapshots (): Promise<void> {
    if (this.#pending.length === 0) return
    const pending = this.#pending
    this.#pending = []
    for (const p of pending) {
      const record = buildSnapshotRecord(p.root, {
        id: p.id,
        label: p.label,
        parent: p.parent,
        stateHash: p.stateHash,
        eventSeq: p.eventSeq,
        timestamp: this.#clock.now(),
        ledgerSeq: this.#ledger.size - 1,
        ledgerHead: this.#ledger.head
      })
      if (this.#rebuilding && await this.#store.has(record.id)) continue
      await this.#store.put(record)
    }
  }

  async #record (id: string): Promise<SnapshotRecord> {
    const record = await this.#store.get(id)
    if (record === undefined) throw new KernelError('UNKNOWN_SNAPSHOT', `Unknown snapshot ${id}`)
    return record
  }

  async #materialize (id: string): Promise<StateRoot> {
    const cached = this.#roots.get(id)
    if (cached !== undefined) return cached
    const record = await this.#record(id)
    const root = await materializeSnapshot(record, rid => this.#store.get(rid), rid => this.#roots.get(rid))
    this.#roots.set(id, root)
    return root
  }

  async #summary (id: string, ready?: string | null): Promise<SnapshotSummary> {
    const r = await this.#record(id)
    const readyId = ready === undefined ? await this.#store.ready() : ready
    return { id: r.id, label: r.label, timestamp: r.timestamp, ledgerSeq: r.ledgerSeq, ledgerHead: r.ledgerHead, stateHash: r.stateHash, ready: readyId === r.id }
  }

  async #listSnapshots (): Promise<SnapshotSummary[]> {
    const ready = await this.#store.ready()
    const out: SnapshotSummary[] = []
    for (const id of await this.#store.list()) out.push(await this.#summary(id, ready))
    return out.sort((a, b) => a.ledgerSeq - b.ledgerSeq || (a.id < b.id ? -1 : 1))
  }

  async #replaySnapshot (id: string, events: Iterable<EventEnvelope> | undefined): Promise<ReplayReport> {
    const record = await this.#record(id)
    const recorded = events === undefined ? [...this.#ledger.events()] : [...events]
    const fail = (seq: number, expected: string, actual: string, eventsReplayed = 0): ReplayReport =>
      ({ ok: false, snapshotId: id, eventsReplayed, firstDivergentSeq: seq, expected, actual })
    let root: StateRoot
    try {
      root = await this.#materialize(id)
    } catch (err) {
      if (isKernelError(err, 'SNAPSHOT_CORRUPT')) return fail(record.eventSeq, record.stateHash, 'corrupt')
      throw err
    }
    if (root.hash() !== record.stateHash) return fail(record.eventSeq, record.stateHash, root.hash())
    const marker = recorded[record.eventSeq]
    if (marker?.type !== EVENT_TYPES.snapshotCreated || marker.payload.state_hash !== record.stateHash || marker.payload.id !== id) {
      return fail(record.eventSeq, record.stateHash, String(marker?.payload.state_hash ?? 'none'))
    }
    const prefixEnd = record.ledgerSeq + 1
    if (recorded.length < prefixEnd || recorded[record.ledgerSeq]?.hash !== record.ledgerHead) {
      return fail(record.ledgerSeq, record.ledgerHead, recorded[record.ledgerSeq]?.hash ?? 'none')
    }
    if (events !== undefined) {
      // Events from outside the kernel: an edit that did not re-hash shows up in the chain itself.
      const verified = verifyEvents(recorded)
      if (!verified.ok) return fail(verified.firstBadSeq, recorded[verified.firstBadSeq]?.hash ?? 'none', verified.reason)
    }
    const ledger = createReplayLedger(prefixEnd, record.ledgerHead)
    const state = syncTick(registerSnapshot(root, { id, label: record.label, parent: record.state.parent, stateHash: record.stateHash, eventSeq: record.eventSeq }), record.timestamp)
    const rngState = root.get(META_SECTION, 'rng') as unknown as RngState | undefined
    const rng = rngState === undefined ? createSeededRng(this.genesis.seed) : restoreRng(rngState)
    const roots = new Map<string, StateRoot>([[id, root]])
    const scratch = this.#scratch(ledger, state, createVirtualClock(record.timestamp), rng, createMemorySnapshotStore())
    scratch.#roots = roots
    scratch.#recorded = recorded
    // Events from outside were verified above; the kernel's own are verified if it opened them with verification.
    if (events !== undefined || this.#ledgerVerified) scratch.#trusted = recorded
    const outcome = await replayRecorded(scratch, recorded, prefixEnd)
    if (!outcome.ok) return fail(outcome.firstDivergentSeq, outcome.expected, outcome.actual, outcome.eventsReplayed)
    return { ok: true, snapshotId: id, eventsReplayed: outcome.eventsReplayed, head: outcome.head }
  }

  #snapshotManager (): SnapshotManager {
    return {
      create: async (label?: string) => {
        const res = await this.handle({ type: 'CreateSnapshot', ...(label !== undefined ? { label } : {}) })
        if (res.disposition === 'rejected') throw new KernelError((res.error?.code ?? 'INTERNAL') as KernelErrorCode, res.error?.message ?? 'Snapshot rejected')
        return res.result as SnapshotSummary
      },
      list: () => this.#exclusive(() => this.#listSnapshots()),
      show: id => this.#exclusive(async () => {
        const summary = await this.#summary(id)
        const root = await this.#materialize(id)
        return { ...summary, state: stateToJson(root) }
      }),
      diff: (fromId, toId) => this.#exclusive(async () => {
        const a = await this.#materialize(fromId)
        const b = await this.#materialize(toId)
        const changes = diffStates(a, b, (x, y) => canonicalize(x) === canonicalize(y)).map(c => {
          const out: StateDiff['changes'][number] = { path: `${c.section}/${c.key}` }
          if (c.before !== undefined) out.before = c.before
          if (c.after !== undefined) out.after = c.after
          return out
        }).sort((x, y) => x.path < y.path ? -1 : x.path > y.path ? 1 : 0)
        return { from: fromId, to: toId, changes }
      }),
      replay: (id, options) => this.#exclusive(() => this.#replaySnapshot(id, options?.events)),
      auth: id => this.#exclusive(async () => {
        if (this.#signer === undefined) throw new KernelError('CONFIG_INVALID', 'Cannot authenticate snapshots: the kernel has no signer')
        const r = await this.#record(id)
        return await signToken({
          typ: 'os2-snapshot-auth',
          sub: r.id,
          snapshot_content_hash: r.contentHash,
          ledger_head: r.ledgerHead,
          ledger_seq: r.ledgerSeq,
          state_hash: r.stateHash,
          genesis_hash: hashCanonical(this.genesis as unknown as CanonicalValue)
        }, this.#signer)
      }),
      setReady: id => this.#exclusive(async () => {
        await this.#record(id)
        await this.#store.setReady(id)
      })
    }
  }

  // ---- views --------------------------------------------------------------

  capabilities (): CapabilityInfo[] {
    return this.registry.ids().map(id => {
      const d = this.registry.get(id)
      return { id, version: d.version, description: d.description, argsSchema: this.registry.argsSchema(id), limits: this.registry.limits(id), usage: this.#usage(id) }
    })
  }

  grants (): Grant[] { return listGrants(this.#state) }

  token (id: string): TokenStatus | undefined { return getToken(this.#state, id) }

  tokens (): TokenStatus[] {
    const out: TokenStatus[] = []
    for (const id of this.#state.section(TOKEN_SECTION).keys()) {
      const status = getToken(this.#state, id)
      if (status !== undefined) out.push(status)
    }
    return out.sort((a, b) => a.submittedSeq - b.submittedSeq)
  }

  kv (namespace?: string): Array<{ namespace: string, key: string, value: CanonicalValue }> {
    const sections = namespace === undefined
      ? this.#state.sections().filter(s => s.startsWith(KV_PREFIX))
      : [KV_PREFIX + namespace]
    const out: Array<{ namespace: string, key: string, value: CanonicalValue }> = []
    for (const section of sections) {
      const sec = this.#state.section(section)
      const ns = section.slice(KV_PREFIX.length)
      for (const key of [...sec.keys()].sort()) out.push({ namespace: ns, key, value: sec.get(key) as CanonicalValue })
    }
    return out
  }

  stateHash (): string { return this.#state.hash() }

  /**
   * A signed checkpoint of the head at every close, so a ledger cut cleanly at a
   * record boundary is still caught by `verifyLedgerDir` (the checkpoint covers more events than remain).
   */
  #checkpointOnClose (): void {
    const ledger = this.#ledger
    if (this.#signer === undefined || ledger.checkpoint === undefined || this.#closed || ledger.size === 0) return
    const last = ledger.checkpoints?.().at(-1)
    if (last !== undefined && last.size >= ledger.size) return
    ledger.checkpoint(this.#signer, this.#clock.now())
  }

  async close (): Promise<void> {
    await this.#exclusive(async () => {
      this.#checkpointOnClose()
      await this.#ledger.flush()
      this.#closed = true
      if (this.#ledger.close !== undefined) await this.#ledger.close()
      else await this.#storageOwned?.close()
    })
  }
}

/** The clock as kept in state at the end of every unit of work. */
function syncTick (state: StateRoot, tick: number): StateRoot {
  return state.get(META_SECTION, 'tick') === tick ? state : state.set(META_SECTION, 'tick', tick)
}

/** Whole state as `{ section: { key: value } }`, sorted. */
function stateToJson (root: StateRoot): CanonicalValue {
  const out: Record<string, Record<string, CanonicalValue>> = {}
  for (const [section, key, value] of root.entries()) {
    const sec = out[section] ?? (out[section] = {})
    sec[key] = value
  }
  return out
}

async function replayRecordedFromGenesis (scratch: DefaultKernel, recorded: readonly EventEnvelope[]): ReturnType<typeof replayRecorded> {
  scratch.writeGenesis()
  const produced = scratch.ledger.get(0)
  const first = recorded[0]
  if (produced === undefined || first === undefined || produced.hash !== first.hash) {
    return { ok: false, eventsReplayed: 0, firstDivergentSeq: 0, expected: first?.hash ?? 'none', actual: produced?.hash ?? 'none', message: 'Replay produced a different genesis event' }
  }
  return await replayRecorded(scratch, recorded, 1)
}

function build (components: KernelComponents, init: KernelInit, ledger: KernelLedger): DefaultKernel {
  const descriptors = [...BUILTIN_CAPABILITIES, ...(init.descriptors ?? [])]
  return new DefaultKernel({
    genesis: init.genesis,
    descriptors,
    registry: createCapabilityRegistry(descriptors, init.genesis),
    clock: components.clock ?? createVirtualClock(0),
    rng: components.rng ?? createSeededRng(init.genesis.seed),
    ledger,
    state: createState(),
    store: components.snapshots ?? createMemorySnapshotStore(),
    signer: components.signer,
    wallClock: components.wallClock,
    storage: components.storage
  })
}

/**
 * Creates a kernel. On empty storage it writes the `genesis` event; on a
 * ledger that already holds events it rebuilds the state by replaying every
 * recorded input from genesis and checking that each produced hash equals the
 * stored one. A torn tail the storage repaired is reported with an `alert` event.
 *
 * @throws KernelError `GENESIS_INVALID` when the ledger was made from another genesis, `REPLAY_DIVERGED` when replay does not reproduce it
 * @example
 * const kernel = await createKernel({}, { genesis: createGenesis({ seed: 42 }) })
 * await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } })
 */
export async function createKernel (components: KernelComponents, init: KernelInit): Promise<KernelHandle> {
  const ledgers = components.ledgers ?? defaultLedgerFactory
  const opened = components.storage === undefined ? { ledger: ledgers.create() } : await ledgers.open(components.storage)
  const kernel = build(components, init, opened.ledger)
  kernel.ledgerVerified = components.storage === undefined || ('verified' in opened && opened.verified === true)
  const pending = 'pendingVerification' in opened ? opened.pendingVerification : undefined
  if (kernel.ledger.size === 0) {
    kernel.writeGenesis()
  } else {
    try {
      await kernel.rebuild()
    } catch (err) {
      // A ledger whose hashes do not verify is reported as such, whatever replay made of it.
      await pending
      throw err
    }
  }
  await pending
  const repaired = 'repaired' in opened ? opened.repaired : undefined
  if (repaired !== undefined) {
    kernel.appendAlert({ reason: 'torn_tail_repaired', segment: repaired.segment, dropped_bytes: repaired.droppedBytes, at_seq: repaired.atSeq })
  }
  await kernel.ledger.flush()
  return kernel
}

/**
 * Replays a whole recorded ledger from genesis in a scratch kernel and reports
 * the first event whose hash differs (`snapshot-replay` from the beginning,
 * `ledger-verify --replay`).
 */
export async function replayLedger (events: Iterable<EventEnvelope>, init: KernelInit, components: Pick<KernelComponents, 'wallClock'> = {}): Promise<ReplayReport> {
  const recorded = [...events]
  const scratch = build({ ...(components.wallClock !== undefined ? { wallClock: components.wallClock } : {}) }, init, createReplayLedger(0, ZERO_HASH))
  const outcome = await replayWith(scratch, recorded)
  if (!outcome.ok) return { ok: false, snapshotId: 'genesis', eventsReplayed: outcome.eventsReplayed, firstDivergentSeq: outcome.firstDivergentSeq, expected: outcome.expected, actual: outcome.actual }
  return { ok: true, snapshotId: 'genesis', eventsReplayed: outcome.eventsReplayed, head: outcome.head }
}

async function replayWith (scratch: DefaultKernel, recorded: readonly EventEnvelope[]): ReturnType<typeof replayRecorded> {
  scratch.setRecorded(recorded)
  return await replayRecordedFromGenesis(scratch, recorded)
}
