import * as Y from 'yjs'
import { DEFAULT_MAX_BUNDLE_BYTES, encodeFederatedChange, parseFederatedChange, signFederatedChange, bundleUpdate } from './bundle/federated-change.ts'
import { coalesceUpdates, encodeLocalRun } from './bundle/coalesce-updates.ts'
import { parseRevocation } from './bundle/revocation.ts'
import { createMemoryStore } from './memory/memory-store.ts'
import { memoryName } from './memory/memory-ref.ts'
import { evaluateBundle } from './policy/policy.ts'
import { scopeTouchesNamespace } from './policy/grant-book.ts'
import { createNullStorage } from './storage/replica-storage.ts'
import { FederationError } from './errors.ts'
import type { FederatedChange } from './bundle/federated-change.ts'
import type { LocalRun } from './bundle/coalesce-updates.ts'
import type { Revocation } from './bundle/revocation.ts'
import type { NodeIdentity } from './identity.ts'
import type { FederationLedger } from './ledger-port.ts'
import type { MemoryRef } from './memory/memory-ref.ts'
import type { MemoryStore } from './memory/memory-store.ts'
import type { GrantBook, RevocationOutcome } from './policy/grant-book.ts'
import type { PolicyContext, PolicyOutcome } from './policy/policy.ts'
import type { VerdictRecord } from './policy/verdict.ts'
import type { ReplicaStorage } from './storage/replica-storage.ts'

export interface FederationReplicaComponents {
  identity: NodeIdentity
  grants: GrantBook
  ledger: FederationLedger
  /** Virtual clock: the tick stamped on commits and bundles. */
  clock: { now(): number }
  storage?: ReplicaStorage
}

export interface FederationReplicaInit {
  /** Largest accepted bundle, bytes (default 4 MiB). */
  maxBundleBytes?: number
  /** Most out-of-order bundles held per origin (default 10,000). */
  maxHeldPerOrigin?: number
  /**
   * Most Yjs update bytes coalesced into one outgoing bundle (default 64 KiB,
   * never more than fits `maxBundleBytes` once base64-encoded). A full bundle
   * is sealed and pushed at once, so during a long burst the peer already
   * applies the first bundles while later writes are made.
   */
  maxCoalesceBytes?: number
  /**
   * Longest a local write waits in the outbox while the send gate is closed,
   * ms (default 20). With the gate open a write is sealed at once.
   */
  maxFlushDelayMs?: number
}

/**
 * What a local write produced: its commit and the seq of the bundle that
 * carries it (several writes may share one bundle, see `setSendGate`).
 */
export interface LocalWrite {
  memory: string
  /** Seq of the (possibly not yet sealed) bundle carrying this commit. */
  seq: number
  commit_id: string
  /** This commit's Yjs update, base64. */
  update: string
  tick: number
  /** The signed bundle, when the write was sealed at once (send gate open); else it is sealed by a later `flush()`. */
  bundle: FederatedChange | undefined
}

/** Called with every bundle this replica accepted or originated, to push onwards. */
export type BundleListener = (bytes: Uint8Array, bundle: FederatedChange, from: string | null) => void
/** Called when bundles from `origin` starting at `fromSeq` are missing. */
export type WantListener = (origin: string, fromSeq: number, from: string | null) => void
export type RevocationListener = (revocation: Revocation, from: string | null) => void

/**
 * One node's federated memories: local writes become signed bundles, incoming
 * bundles pass policy before they merge, every verdict goes to the ledger.
 */
export interface FederationReplica {
  readonly peerId: string
  /** The memory documents (read them through the views; write only through `write`). */
  readonly memories: MemoryStore
  /**
   * Applies `fn` to the memory in one Yjs transaction and commits it;
   * `undefined` when nothing changed. The commit joins the outbox: while the
   * send gate is open the outbox is sealed at once (one signed bundle for this
   * write); while it is closed, consecutive writes to a memory coalesce into
   * one bundle, sealed by `flush()` (the transport calls it when its sends
   * complete) or after `maxFlushDelayMs`.
   */
  write(ref: MemoryRef, fn: (doc: Y.Doc) => void): LocalWrite | undefined
  /** Seals every write waiting in the outbox into signed bundles (one per memory run), journals and emits them. */
  flush(): FederatedChange[]
  /** Local commits waiting in the outbox. */
  pending(): number
  /**
   * Sets the send gate (default: always open). While `ready()` is false,
   * local writes wait in the outbox so a burst travels as few bundles
   * (group commit); whoever closed the gate calls `flush()` when it opens.
   */
  setSendGate(ready: () => boolean): void
  /** Runs one incoming bundle (bytes from the network, or parsed) through policy. */
  receive(input: Uint8Array | FederatedChange, from?: string): VerdictRecord
  /** Learns a revocation (bytes or JSON); applied ones are persisted and relayed. */
  receiveRevocation(input: Uint8Array | unknown, from?: string): RevocationOutcome | 'malformed'
  /** Last accepted seq per origin, keys sorted. */
  vector(): Record<string, number>
  /** Encoded accepted bundles from `origin`, seq `fromSeq` onwards, at most `max`. */
  bundleRange(origin: string, fromSeq: number, max: number): Uint8Array[]
  /** Number of bundles held (gaps and missing dependencies). */
  heldCount(): number
  revocations(): Revocation[]
  onBundle(listener: BundleListener): void
  onWant(listener: WantListener): void
  onRevocation(listener: RevocationListener): void
  /** Writes each memory's Yjs state to storage. */
  checkpoint(): void
  close(): void
}

interface Accepted { id: string, signature: string, bytes: Uint8Array, accepted: boolean }
/** Local commits waiting to be sealed into the bundle with seq `seq`. */
interface Outgoing { memory: string, seq: number, grant: { id: string, version: number }, updates: Uint8Array[], bytes: number, tick: number, run: LocalRun }
interface DepsHeld { bundle: FederatedChange, from: string | null, commitsAtAttempt: number }

class DefaultFederationReplica implements FederationReplica {
  readonly peerId: string
  readonly memories: MemoryStore = createMemoryStore()
  private readonly c: FederationReplicaComponents
  private readonly storage: ReplicaStorage
  private readonly maxBundleBytes: number
  private readonly maxHeld: number
  private readonly log = new Map<string, Accepted[]>()
  private readonly gapHeld = new Map<string, Map<number, { bundle: FederatedChange, from: string | null }>>()
  private readonly depsHeld = new Map<string, DepsHeld>()
  private readonly bundleListeners: BundleListener[] = []
  private readonly wantListeners: WantListener[] = []
  private readonly revocationListeners: RevocationListener[] = []
  private readonly ctx: PolicyContext
  // Held bundles passed the signature check when first seen; retries skip it.
  private readonly heldVerified = new WeakSet<FederatedChange>()
  // Set when a bundle used up its seq (accepted, or refused for good): held ones may now proceed.
  private advanced = false
  private readonly outbox: Outgoing[] = []
  private readonly openByMemory = new Map<string, Outgoing>()
  private pendingCommits = 0
  private gate: () => boolean = () => true
  private flushTimer: ReturnType<typeof setTimeout> | undefined
  private readonly maxCoalesceBytes: number
  private readonly maxFlushDelayMs: number

  constructor (components: FederationReplicaComponents, init: FederationReplicaInit) {
    this.c = components
    this.peerId = components.identity.peerId
    this.storage = components.storage ?? createNullStorage()
    this.maxBundleBytes = init.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES
    this.maxHeld = init.maxHeldPerOrigin ?? 10_000
    // base64 grows 4/3; keep 4 KiB for the other fields.
    this.maxCoalesceBytes = Math.max(1, Math.min(init.maxCoalesceBytes ?? 64 * 1024, Math.floor((this.maxBundleBytes - 4096) * 3 / 4)))
    this.maxFlushDelayMs = init.maxFlushDelayMs ?? 20
    this.ctx = {
      grants: components.grants,
      maxBundleBytes: this.maxBundleBytes,
      lastSeq: origin => this.log.get(origin)?.length ?? 0,
      decided: (origin, seq) => this.log.get(origin)?.[seq - 1],
      verified: bundle => this.heldVerified.has(bundle),
      doc: memory => this.memories.doc(memory)
    }
    this.recover()
  }

  private recover (): void {
    const { bundles, revocations } = this.storage.load()
    for (const r of revocations) this.c.grants.applyRevocation(r)
    const byMemory = new Map<string, Array<{ update: Uint8Array, author: string, tick: number }>>()
    for (const { bytes, accepted } of bundles) {
      const parsed = parseFederatedChange(bytes, Number.MAX_SAFE_INTEGER)
      if (!parsed.ok) continue
      const b = parsed.value
      const entries = this.logOf(b.origin)
      if (b.seq !== entries.length + 1) continue
      entries.push({ id: b.bundle_id, signature: b.signature, bytes, accepted })
      if (!accepted) continue
      let items = byMemory.get(b.memory)
      if (items === undefined) byMemory.set(b.memory, items = [])
      items.push({ update: bundleUpdate(b), author: b.origin, tick: b.tick })
    }
    for (const [memory, items] of byMemory) this.memories.applyMany(memory, items)
  }

  private logOf (origin: string): Accepted[] {
    let l = this.log.get(origin)
    if (l === undefined) this.log.set(origin, l = [])
    return l
  }

  private grantFor (ref: MemoryRef): { id: string, version: number } {
    for (const g of this.c.grants.list()) {
      if (g.principal !== this.peerId || g.revoked) continue
      if (g.capability !== 'memory.federate' && g.capability !== `memory.${ref.kind}.write`) continue
      if (scopeTouchesNamespace(g.scope.namespaces, ref.namespace)) return { id: g.id, version: g.version }
    }
    return { id: 'none', version: 0 }
  }

  write (ref: MemoryRef, fn: (doc: Y.Doc) => void): LocalWrite | undefined {
    const name = memoryName(ref)
    const tick = this.c.clock.now()
    const commit = this.memories.write(name, { author: this.peerId, tick }, fn)
    if (commit === undefined) return undefined
    this.c.ledger.record('memory.commit', { memory: name, commit_id: commit.id, parents: commit.parents, author: commit.author, tick, update_hash: commit.updateHash })
    const grant = this.grantFor(ref)
    let out = this.openByMemory.get(name)
    // A bundle relies on one grant and stays under the size bound: otherwise the outbox is sealed and the write opens a new bundle.
    if (out !== undefined && (out.grant.id !== grant.id || out.grant.version !== grant.version || out.bytes + commit.update.length > this.maxCoalesceBytes || out.run.client !== commit.client)) {
      this.flush()
      out = undefined
    }
    if (out === undefined) {
      out = { memory: name, seq: (this.log.get(this.peerId)?.length ?? 0) + this.outbox.length + 1, grant, updates: [], bytes: 0, tick, run: { client: commit.client, fromClock: commit.clockBefore, deletes: [] } }
      this.outbox.push(out)
      this.openByMemory.set(name, out)
    }
    out.run.deletes.push(commit.deletes)
    out.updates.push(commit.update)
    out.bytes += commit.update.length
    out.tick = tick
    this.pendingCommits++
    const seq = out.seq
    let bundle: FederatedChange | undefined
    if (this.gate()) {
      bundle = this.flush().find(b => b.seq === seq)
    } else if (this.flushTimer === undefined) {
      this.flushTimer = setTimeout(() => { this.flushTimer = undefined; this.flush() }, this.maxFlushDelayMs)
      this.flushTimer.unref?.()
    }
    return { memory: name, seq, commit_id: commit.id, update: Buffer.from(commit.update).toString('base64'), tick, bundle }
  }

  flush (): FederatedChange[] {
    if (this.flushTimer !== undefined) {
      clearTimeout(this.flushTimer)
      this.flushTimer = undefined
    }
    const sealed: FederatedChange[] = []
    if (this.outbox.length === 0) return sealed
    const batch = this.outbox.splice(0)
    this.openByMemory.clear()
    this.pendingCommits = 0
    const own = this.logOf(this.peerId)
    for (const out of batch) {
      if (out.seq !== own.length + 1) throw new FederationError('BUNDLE_INVALID', `Cannot seal bundle ${out.seq}: expected seq ${own.length + 1}`)
      const bundle = signFederatedChange({
        origin: this.peerId,
        memory: out.memory,
        seq: out.seq,
        update: this.bundleUpdateOf(out),
        grant: out.grant,
        ledger_head: this.c.ledger.head(),
        tick: out.tick
      }, this.c.identity.keyPair)
      const bytes = encodeFederatedChange(bundle)
      this.storage.appendBundle(bytes, true)
      own.push({ id: bundle.bundle_id, signature: bundle.signature, bytes, accepted: true })
      sealed.push(bundle)
      for (const l of this.bundleListeners) l(bytes, bundle, null)
    }
    return sealed
  }

  // One update for the bundle's commits: each commit's own when alone; a long run is encoded from the document in one pass.
  private bundleUpdateOf (out: Outgoing): Uint8Array {
    if (out.updates.length === 1) return out.updates[0] as Uint8Array
    if (out.updates.length >= 32) {
      const encoded = encodeLocalRun(this.memories.doc(out.memory), out.run)
      if (encoded !== undefined) return encoded
    }
    return coalesceUpdates(out.updates)
  }

  pending (): number {
    return this.pendingCommits
  }

  setSendGate (ready: () => boolean): void {
    this.gate = ready
  }

  receive (input: Uint8Array | FederatedChange, from?: string): VerdictRecord {
    this.advanced = false
    const record = this.process(input, from ?? null, false)
    if (this.advanced) this.drain()
    return record
  }

  private process (input: Uint8Array | FederatedChange, from: string | null, retry: boolean): VerdictRecord {
    const outcome = evaluateBundle(this.ctx, input)
    const record = this.toRecord(outcome, from)
    switch (outcome.kind) {
      case 'accepted': {
        const b = outcome.bundle
        const bytes = input instanceof Uint8Array ? input : encodeFederatedChange(b)
        const commit = this.memories.apply(b.memory, outcome.update, { author: b.origin, tick: b.tick })
        this.storage.appendBundle(bytes, true)
        this.logOf(b.origin).push({ id: b.bundle_id, signature: b.signature, bytes, accepted: true })
        this.advanced = true
        this.depsHeld.delete(b.origin)
        this.gapHeld.get(b.origin)?.delete(b.seq)
        this.c.ledger.record('federation.verdict', record as unknown as Record<string, string | number | null>)
        this.c.ledger.record('memory.commit', { memory: b.memory, commit_id: commit.id, parents: commit.parents, author: b.origin, tick: b.tick, update_hash: commit.updateHash, bundle_id: b.bundle_id })
        for (const l of this.bundleListeners) l(bytes, b, from)
        break
      }
      case 'held': {
        const b = outcome.bundle
        this.heldVerified.add(b)
        if (outcome.reason === 'GAP_HELD') {
          let held = this.gapHeld.get(b.origin)
          if (held === undefined) this.gapHeld.set(b.origin, held = new Map())
          if (held.size >= this.maxHeld && !held.has(b.seq)) {
            const full: VerdictRecord = { ...record, verdict: 'rejected', reason: 'HOLD_FULL', detail: `already holding ${held.size} bundles` }
            this.c.ledger.record('federation.verdict', full as unknown as Record<string, string | number | null>)
            return full
          }
          const fresh = !held.has(b.seq)
          held.set(b.seq, { bundle: b, from })
          if (fresh && !retry) this.c.ledger.record('federation.verdict', record as unknown as Record<string, string | number | null>)
          // Ask for the gap once per newly held bundle, and not while the next one is only waiting for dependencies.
          if (fresh && !this.depsHeld.has(b.origin)) {
            const want = (this.log.get(b.origin)?.length ?? 0) + 1
            for (const l of this.wantListeners) l(b.origin, want, from)
          }
        } else {
          const fresh = this.depsHeld.get(b.origin)?.bundle.bundle_id !== b.bundle_id
          this.depsHeld.set(b.origin, { bundle: b, from, commitsAtAttempt: this.memories.commits(b.memory).length })
          if (fresh && !retry) this.c.ledger.record('federation.verdict', record as unknown as Record<string, string | number | null>)
        }
        break
      }
      case 'rejected': {
        const b = outcome.bundle
        this.c.ledger.record('federation.verdict', record as unknown as Record<string, string | number | null>)
        if (outcome.consumesSeq && b !== null) {
          const bytes = input instanceof Uint8Array ? input : encodeFederatedChange(b)
          this.storage.appendBundle(bytes, false)
          this.logOf(b.origin).push({ id: b.bundle_id, signature: b.signature, bytes, accepted: false })
          this.advanced = true
          this.depsHeld.delete(b.origin)
          this.gapHeld.get(b.origin)?.delete(b.seq)
          for (const l of this.bundleListeners) l(bytes, b, from)
        }
        break
      }
    }
    return record
  }

  // Retries held bundles until nothing more can be accepted.
  private drain (): void {
    let progress = true
    while (progress) {
      progress = false
      for (const [origin, held] of this.gapHeld) {
        const next = held.get((this.log.get(origin)?.length ?? 0) + 1)
        if (next === undefined) {
          if (held.size === 0) this.gapHeld.delete(origin)
          continue
        }
        held.delete(next.bundle.seq)
        this.process(next.bundle, next.from, true)
        if ((this.log.get(origin)?.length ?? 0) >= next.bundle.seq) progress = true
      }
      for (const [origin, d] of [...this.depsHeld]) {
        if (this.memories.commits(d.bundle.memory).length === d.commitsAtAttempt) continue
        this.depsHeld.delete(origin)
        this.process(d.bundle, d.from, true)
        if ((this.log.get(origin)?.length ?? 0) >= d.bundle.seq) progress = true
      }
    }
  }

  private toRecord (o: PolicyOutcome, from: string | null): VerdictRecord {
    const b = o.bundle
    return {
      verdict: o.kind,
      reason: o.kind === 'accepted' ? null : o.reason,
      detail: o.kind === 'accepted' ? `touches ${o.touches.length}` : o.detail,
      bundle_id: b?.bundle_id ?? null,
      origin: b?.origin ?? null,
      memory: b?.memory ?? null,
      seq: b?.seq ?? null,
      from
    }
  }

  receiveRevocation (input: Uint8Array | unknown, from?: string): RevocationOutcome | 'malformed' {
    const parsed = parseRevocation(input)
    if (!parsed.ok) {
      this.c.ledger.record('federation.revocation', { outcome: 'malformed', detail: parsed.detail, from: from ?? null })
      return 'malformed'
    }
    const r = parsed.value
    const outcome = this.c.grants.applyRevocation(r)
    if (outcome === 'duplicate') return outcome
    this.c.ledger.record('federation.revocation', { outcome, revocation_id: r.revocation_id, grant_id: r.grant_id, version: r.version, from: from ?? null })
    if (outcome === 'applied') {
      this.storage.appendRevocation(r)
      for (const l of this.revocationListeners) l(r, from ?? null)
    }
    return outcome
  }

  vector (): Record<string, number> {
    const out: Record<string, number> = {}
    for (const origin of [...this.log.keys()].sort()) {
      const n = this.log.get(origin)?.length ?? 0
      if (n > 0) out[origin] = n
    }
    return out
  }

  bundleRange (origin: string, fromSeq: number, max: number): Uint8Array[] {
    const l = this.log.get(origin) ?? []
    const start = Math.max(0, fromSeq - 1)
    return l.slice(start, start + Math.max(0, max)).map(e => e.bytes)
  }

  heldCount (): number {
    let n = this.depsHeld.size
    for (const h of this.gapHeld.values()) n += h.size
    return n
  }

  revocations (): Revocation[] {
    return this.c.grants.revocations()
  }

  onBundle (listener: BundleListener): void { this.bundleListeners.push(listener) }
  onWant (listener: WantListener): void { this.wantListeners.push(listener) }
  onRevocation (listener: RevocationListener): void { this.revocationListeners.push(listener) }

  checkpoint (): void {
    for (const name of this.memories.names()) {
      if (this.memories.commits(name).length === 0) continue
      this.storage.saveMemoryState(name, Y.encodeStateAsUpdate(this.memories.doc(name)))
    }
  }

  close (): void {
    this.flush()
    this.checkpoint()
    this.storage.close()
  }
}

/**
 * Creates a replica, recovering its journal from storage.
 *
 * @example
 * const replica = createFederationReplica({ identity, grants, ledger, clock })
 * replica.write({ kind: 'kv', namespace: 'notes' }, doc => kvView(doc).set('a', 1))
 */
export function createFederationReplica (components: FederationReplicaComponents, init: FederationReplicaInit = {}): FederationReplica {
  return new DefaultFederationReplica(components, init)
}
