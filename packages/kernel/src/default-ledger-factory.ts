import { canonicalize, sha256Hex, ZERO_HASH } from '@os2/crypto'
import { KernelError } from './errors.ts'
import type { EventDraft, EventEnvelope, LedgerStorage, VerifyResult } from './ledger/types.ts'
import type { ConsistencyProof, InclusionProof } from './kernel-types.ts'
import type { KernelLedger, LedgerFactory, OpenedLedger } from './kernel-ledger.ts'

// Interim chain used until src/ledger/ lands; replaced by createLedger/openLedger.
class InterimLedger implements KernelLedger {
  readonly #events: EventEnvelope[] = []
  readonly #storage: LedgerStorage | undefined
  #unflushed: EventEnvelope[] = []
  constructor (storage?: LedgerStorage) { this.#storage = storage }
  get size (): number { return this.#events.length }
  get head (): string { return this.#events[this.#events.length - 1]?.hash ?? ZERO_HASH }
  get (seq: number): EventEnvelope | undefined { return this.#events[seq] }
  * events (from = 0, to = this.#events.length): Iterable<EventEnvelope> {
    for (let i = from; i < Math.min(to, this.#events.length); i++) yield this.#events[i] as EventEnvelope
  }

  load (events: EventEnvelope[]): void { this.#events.push(...events) }

  append (draft: EventDraft): EventEnvelope {
    const seq = this.#events.length
    const body = { event_id: `ev-${seq}`, seq, tick: draft.tick, type: draft.type, capability_id: draft.capability_id ?? null, token_id: draft.token_id ?? null, payload: draft.payload, prev_hash: this.head }
    const env: EventEnvelope = { ...body, hash: sha256Hex(canonicalize(body)) }
    this.#events.push(env)
    this.#unflushed.push(env)
    return env
  }

  async flush (): Promise<void> {
    const batch = this.#unflushed
    this.#unflushed = []
    if (batch.length > 0) await this.#storage?.append(batch)
  }

  root (): string { throw new KernelError('INTERNAL', 'Interim ledger has no Merkle tree') }
  inclusionProof (): InclusionProof { throw new KernelError('INTERNAL', 'Interim ledger has no Merkle tree') }
  consistencyProof (): ConsistencyProof { throw new KernelError('INTERNAL', 'Interim ledger has no Merkle tree') }
  verify (): VerifyResult {
    let prev = ZERO_HASH
    for (const e of this.#events) {
      const { hash, ...body } = e
      if (e.prev_hash !== prev || sha256Hex(canonicalize(body)) !== hash) return { ok: false, size: this.#events.length, firstBadSeq: e.seq, reason: 'hash_mismatch', message: `bad ${e.seq}` }
      prev = hash
    }
    return { ok: true, size: this.#events.length, head: this.head }
  }
}

export const defaultLedgerFactory: LedgerFactory = {
  create: () => new InterimLedger(),
  async open (storage: LedgerStorage): Promise<OpenedLedger> {
    const loaded = await storage.load()
    const ledger = new InterimLedger(storage)
    ledger.load(loaded.events)
    const v = ledger.verify()
    if (!v.ok) throw new KernelError('LEDGER_CHAIN_BROKEN', v.message, { details: { firstBadSeq: v.firstBadSeq } })
    return { ledger, repaired: loaded.repaired }
  }
}
