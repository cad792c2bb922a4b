import { createMerkleTree, merkleLeafHash, verifyInclusion, ZERO_HASH } from '@os2/crypto'
import type { MerkleTree, Signer } from '@os2/crypto'
import { KernelError } from '../errors.ts'
import type { ConsistencyProof, InclusionProof, LedgerView, SignedCheckpoint } from '../kernel-types.ts'
import { signCheckpoint } from './checkpoint.ts'
import { encodeEnvelope, isNextEnvelope, sealEnvelope, spliceHash } from './envelope.ts'
import { ChainVerifier, verifyEvents } from './verify.ts'
import type { EventDraft, EventEnvelope, LedgerStorage, LoadedLedger, VerifyResult } from './types.ts'

/**
 * The kernel's ledger: an in-memory hash chain plus an RFC 6962 Merkle tree over
 * event hashes, written through to a `LedgerStorage` with group commit.
 */
export interface Ledger extends LedgerView {
  /**
   * Appends one event, synchronously and in memory: fills `event_id`, `seq`,
   * `prev_hash` and `hash`. The envelope is not durable until `flush()` resolves.
   * The draft's payload now belongs to the ledger: do not mutate it afterwards.
   *
   * @throws KernelError `LEDGER_IO` after a storage write failed (the ledger is then read-only)
   * @throws CryptoError `CANONICAL_UNSUPPORTED_VALUE` when the payload is not canonical JSON
   */
  append(draft: EventDraft): EventEnvelope
  /**
   * Appends an envelope whose hash was verified elsewhere (replay of a verified
   * ledger, where the kernel matched the event it produced against the recorded
   * one) without re-hashing it, when it is exactly what `append` would make of
   * its fields here: the next seq, its event id, the head as `prev_hash`, the
   * nine envelope keys. Otherwise appends nothing and returns undefined (the
   * caller then appends the draft, which hashes). Storage-backed ledgers encode
   * it for their next write as usual.
   */
  appendVerified(envelope: EventEnvelope): EventEnvelope | undefined
  /** Number of appended events that storage has acknowledged as durable. */
  readonly durableSize: number
  /**
   * Resolves once every event appended so far (and every checkpoint taken) is
   * durable. Events appended since the last write go in one storage write.
   *
   * @throws KernelError `LEDGER_IO` when the storage write fails
   */
  flush(): Promise<void>
  /** Signs `{ size, root, tick }` of the current head; stored with the next `flush()`. */
  checkpoint(signer: Signer, tick: number): SignedCheckpoint
  /** Checkpoints taken or loaded, oldest first. */
  checkpoints(): SignedCheckpoint[]
  /** What the storage repaired while opening (a torn tail cut), if anything. */
  readonly repaired: LoadedLedger['repaired'] | undefined
  /** Flushes, then closes the storage. */
  close(): Promise<void>
}

export interface LedgerComponents {
  /** Where events go; absent = memory only (`flush()` resolves at once). */
  storage?: LedgerStorage
}

export interface LedgerInit {
  /** Events already stored (verified by `openLedger`), to continue the chain from. */
  events?: readonly EventEnvelope[]
  checkpoints?: readonly SignedCheckpoint[]
  repaired?: LoadedLedger['repaired']
}

interface Deferred { promise: Promise<void>, resolve: () => void, reject: (err: unknown) => void }

function deferred (): Deferred {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

class DefaultLedger implements Ledger {
  readonly #storage: LedgerStorage | undefined
  readonly #events: EventEnvelope[] = []
  /** Canonical lines of the events not yet written (storage only), aligned with #events from #lineBase. */
  #lines: string[] = []
  #lineBase = 0
  // The Merkle tree trails the chain: leaves are folded in (amortised O(1) hashes each, about
  // 1.5 µs) when a root, proof or checkpoint needs them, keeping them off the append and flush paths.
  readonly #tree: MerkleTree = createMerkleTree()
  readonly #checkpoints: SignedCheckpoint[] = []
  #pendingCheckpoints: SignedCheckpoint[] = []
  #head: string = ZERO_HASH
  #durable = 0
  #inFlight: Promise<void> | undefined
  #next: Deferred | undefined
  #failed: KernelError | undefined
  readonly repaired: LoadedLedger['repaired'] | undefined

  constructor (components: LedgerComponents, init: LedgerInit) {
    this.#storage = components.storage
    this.repaired = init.repaired
    for (const e of init.events ?? []) this.#push(e)
    this.#durable = this.#events.length
    this.#lineBase = this.#durable
    this.#checkpoints.push(...(init.checkpoints ?? []))
  }

  get size (): number { return this.#events.length }
  get head (): string { return this.#head }
  get durableSize (): number { return this.#durable }

  append (draft: EventDraft): EventEnvelope {
    if (this.#failed !== undefined) throw this.#failed
    const { envelope, body } = sealEnvelope(draft, this.#events.length, this.#head)
    // The stored line is the body with the hash spliced in: no second canonicalization.
    if (this.#storage !== undefined) this.#lines.push(spliceHash(body, envelope.hash))
    this.#push(envelope)
    return envelope
  }

  appendVerified (envelope: EventEnvelope): EventEnvelope | undefined {
    if (this.#failed !== undefined) throw this.#failed
    if (!isNextEnvelope(envelope, this.#events.length, this.#head)) return undefined
    if (this.#storage !== undefined) this.#lines.push(encodeEnvelope(envelope))
    this.#push(envelope)
    return envelope
  }

  #push (envelope: EventEnvelope): void {
    this.#events.push(envelope)
    this.#head = envelope.hash
  }

  /** Folds every event not yet in the Merkle tree into it; returns the tree. */
  #syncedTree (): MerkleTree {
    const tree = this.#tree
    const events = this.#events
    for (let i = tree.size; i < events.length; i++) tree.appendHex((events[i] as EventEnvelope).hash)
    return tree
  }

  get (seq: number): EventEnvelope | undefined {
    return this.#events[seq]
  }

  * events (from = 0, to: number = this.#events.length): Iterable<EventEnvelope> {
    const end = Math.min(to, this.#events.length)
    for (let i = Math.max(0, from); i < end; i++) yield this.#events[i] as EventEnvelope
  }

  root (size?: number): string {
    return this.#syncedTree().root(size ?? this.#events.length)
  }

  inclusionProof (seq: number, size: number = this.#events.length): InclusionProof {
    const tree = this.#syncedTree()
    const path = tree.inclusionProof(seq, size)
    return { leafIndex: seq, treeSize: size, leafHash: tree.leafHash(seq), path, root: tree.root(size) }
  }

  consistencyProof (oldSize: number, newSize: number = this.#events.length): ConsistencyProof {
    const tree = this.#syncedTree()
    const path = tree.consistencyProof(oldSize, newSize)
    return { oldSize, newSize, oldRoot: tree.root(oldSize), newRoot: tree.root(newSize), path }
  }

  verify (): VerifyResult {
    return verifyEvents(this.#events)
  }

  checkpoint (signer: Signer, tick: number): SignedCheckpoint {
    const cp = signCheckpoint(signer, { size: this.#events.length, root: this.root(), tick })
    this.#checkpoints.push(cp)
    this.#pendingCheckpoints.push(cp)
    return cp
  }

  checkpoints (): SignedCheckpoint[] {
    return this.#checkpoints.slice()
  }

  flush (): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    const storage = this.#storage
    const target = this.#events.length
    if (storage === undefined) {
      this.#durable = target
      this.#pendingCheckpoints = []
      return Promise.resolve()
    }
    if (this.#durable >= target && this.#pendingCheckpoints.length === 0) return Promise.resolve()
    if (this.#inFlight === undefined) {
      this.#inFlight = this.#round(storage)
      return this.#inFlight
    }
    // A round is in flight: the next one starts when it ends and takes everything
    // appended by then, so every flush made meanwhile shares that round's promise.
    this.#next ??= deferred()
    return this.#next.promise
  }

  /** One group-commit round: write every event appended since the last round, then start the next if anyone waits. */
  async #round (storage: LedgerStorage): Promise<void> {
    try {
      await this.#writeBatch(storage)
    } finally {
      this.#inFlight = undefined
      const next = this.#next
      this.#next = undefined
      if (next !== undefined) {
        if (this.#failed !== undefined) {
          next.reject(this.#failed)
        } else {
          this.#inFlight = this.#round(storage)
          this.#inFlight.then(next.resolve, next.reject)
        }
      }
    }
  }

  async #writeBatch (storage: LedgerStorage): Promise<void> {
    const start = this.#durable
    const end = this.#events.length
    const checkpoints = this.#pendingCheckpoints
    try {
      if (end > start) {
        const lines = this.#lines.slice(start - this.#lineBase, end - this.#lineBase)
        await storage.append(this.#events.slice(start, end), lines.length === end - start ? lines : undefined)
      }
      this.#durable = end
      this.#lines.splice(0, end - this.#lineBase)
      this.#lineBase = end
      // A checkpoint is written only after the events it covers are durable.
      const ready = checkpoints.filter(cp => cp.size <= end)
      this.#pendingCheckpoints = checkpoints.filter(cp => cp.size > end)
      if (storage.appendCheckpoint !== undefined) {
        for (const cp of ready) await storage.appendCheckpoint(cp)
      }
    } catch (err) {
      this.#failed = new KernelError('LEDGER_IO', `Cannot write events ${start}..${end - 1}: storage failed`, { cause: err, details: { firstUnwrittenSeq: start } })
      throw this.#failed
    }
  }

  async close (): Promise<void> {
    try {
      await this.flush()
    } finally {
      await this.#storage?.close()
    }
  }
}

/**
 * A ledger in memory, optionally writing through to `storage`. To continue a
 * stored ledger, use `openLedger(storage)` instead.
 *
 * @example
 * const ledger = createLedger({})
 * ledger.append({ tick: 0, type: 'genesis', payload: {} })
 * ledger.verify().ok // true
 */
export function createLedger (components: LedgerComponents = {}, init: LedgerInit = {}): Ledger {
  return new DefaultLedger(components, init)
}

/**
 * Opens the ledger stored in `storage`: loads every event, verifies the chain
 * (hashes too, unless the storage already did), rebuilds the Merkle tree and
 * reports what the storage repaired, so the kernel can append an `alert`.
 *
 * @throws KernelError `LEDGER_CHAIN_BROKEN` (with `details.firstBadSeq`) when the stored chain does not verify
 */
export async function openLedger (storage: LedgerStorage): Promise<Ledger> {
  const { ledger, pendingVerification } = await openLedgerVerifying(storage)
  await pendingVerification
  return ledger
}

/**
 * `openLedger`, returning as soon as the events are loaded and linked while
 * their hashes may still be checked on another thread (`pendingVerification`,
 * which rejects as `openLedger` would throw). The kernel replays meanwhile and
 * reports nothing until it resolves.
 */
export async function openLedgerVerifying (storage: LedgerStorage): Promise<{ ledger: Ledger, pendingVerification?: Promise<void> }> {
  const loaded = await storage.load()
  const failure = loaded.verified === true ? checkLinks(loaded.events) : verifyEvents(loaded.events)
  if (!failure.ok) {
    throw new KernelError('LEDGER_CHAIN_BROKEN', failure.message, { details: { firstBadSeq: failure.firstBadSeq, reason: failure.reason } })
  }
  const checkpoints = storage.loadCheckpoints !== undefined ? await storage.loadCheckpoints() : []
  const init: LedgerInit = { events: loaded.events, checkpoints }
  if (loaded.repaired !== undefined) init.repaired = loaded.repaired
  const ledger = new DefaultLedger({ storage }, init)
  return loaded.pendingVerification === undefined ? { ledger } : { ledger, pendingVerification: loaded.pendingVerification }
}

/** Seq and link checks only, for events whose hashes the storage already verified. */
function checkLinks (events: readonly EventEnvelope[]): VerifyResult {
  let head = ZERO_HASH
  for (let i = 0; i < events.length; i++) {
    const e = events[i] as EventEnvelope
    if (e.seq !== i || e.prev_hash !== head) {
      const v = new ChainVerifier()
      for (const x of events) if (!v.push(x)) break
      return v.result()
    }
    head = e.hash
  }
  return { ok: true, size: events.length, head }
}

/**
 * True when `proof` proves that `event` is in the ledger tree it names.
 *
 * @example
 * verifyEventInclusion(ledger.get(5)!, ledger.inclusionProof(5)) // true
 */
export function verifyEventInclusion (event: EventEnvelope, proof: InclusionProof): boolean {
  if (event.seq !== proof.leafIndex) return false
  const leafHash = merkleLeafHash(Buffer.from(event.hash, 'hex'))
  if (leafHash !== proof.leafHash) return false
  return verifyInclusion({ leafHash, index: proof.leafIndex, size: proof.treeSize, path: proof.path, root: proof.root })
}
