import { canonicalize, sha256Hex, ZERO_HASH } from '@os2/crypto'
import { isCanonicalLine, lineBodyHash } from './canonical-line.mjs'
import { encodeEnvelopeBody, envelopeShapeError, hasExactEnvelopeKeys, spliceHash } from './envelope.ts'
import type { EventEnvelope, VerifyFailure, VerifyResult } from './types.ts'

/** The first problem a chain verifier found. */
export interface ChainFailure {
  firstBadSeq: number
  reason: VerifyFailure
  message: string
}

/**
 * Streaming hash-chain verifier: feed envelopes (or stored lines) in order; the
 * first failure sticks. One canonicalization and one SHA-256 per event.
 */
export class ChainVerifier {
  #size = 0
  #head: string = ZERO_HASH
  #failure: ChainFailure | undefined

  get size (): number { return this.#size }
  get head (): string { return this.#head }
  get failure (): ChainFailure | undefined { return this.#failure }

  /** Checks the next envelope; returns false (and records why) at the first bad one. */
  push (value: unknown): boolean {
    if (this.#failure !== undefined) return false
    const shape = envelopeShapeError(value)
    if (shape !== undefined) return this.#fail('unparsable', `event is malformed: ${shape}`)
    const envelope = value as EventEnvelope
    const hash = envelope.hash
    if (!this.#check(envelope, sha256Hex(encodeEnvelopeBody(envelope, hasExactEnvelopeKeys(envelope))), hash)) return false
    this.#commit(hash)
    return true
  }

  /**
   * Checks the next stored line: it must parse, verify, and be byte for byte the
   * canonical encoding of what it parses to (so no byte can change unnoticed).
   */
  pushLine (line: string): EventEnvelope | undefined {
    if (this.#failure !== undefined) return undefined
    let value: unknown
    try {
      value = JSON.parse(line)
    } catch {
      this.#fail('unparsable', 'line is not valid JSON')
      return undefined
    }
    const shape = envelopeShapeError(value)
    if (shape !== undefined) {
      this.#fail('unparsable', `event is malformed: ${shape}`)
      return undefined
    }
    const envelope = value as EventEnvelope
    const hash = envelope.hash
    const exact = hasExactEnvelopeKeys(envelope)
    if (exact && isCanonicalLine(line, envelope)) {
      // The line is canonical: the body the hash covers is the line without its hash member,
      // so it is hashed as read instead of being encoded again (the same checks, in the same order).
      const computed = lineBodyHash(line, hash)
      if (computed !== undefined) {
        if (!this.#check(envelope, computed, hash)) return undefined
        this.#commit(hash)
        return envelope
      }
    }
    const canonicalBody = encodeEnvelopeBody(envelope, exact)
    if (!this.#check(envelope, sha256Hex(canonicalBody), hash)) return undefined
    const expected = exact ? spliceHash(canonicalBody, hash) : canonicalize(envelope)
    if (line !== expected) {
      this.#fail('unparsable', 'line is not the canonical encoding of its event')
      return undefined
    }
    this.#commit(hash)
    return envelope
  }

  /** Records that the input ended early (a torn or cut record at the next seq). */
  truncated (message: string): void {
    if (this.#failure === undefined) this.#fail('truncated', message)
  }

  result (): VerifyResult {
    const f = this.#failure
    if (f === undefined) return { ok: true, size: this.#size, head: this.#head }
    return { ok: false, size: this.#size, firstBadSeq: f.firstBadSeq, reason: f.reason, message: f.message }
  }

  #check (envelope: EventEnvelope, computed: string, claimed: string): boolean {
    // Order matters for the reported reason: position first, then content, then the link.
    const expectedSeq = this.#size
    if (envelope.seq !== expectedSeq) {
      const what = envelope.seq < expectedSeq ? 'repeats or reorders an earlier event' : 'skips events'
      return this.#fail('seq_mismatch', `expected seq ${expectedSeq}, found seq ${envelope.seq}: the ledger ${what}`)
    }
    if (computed !== claimed) return this.#fail('hash_mismatch', 'hash does not match the canonical encoding of the event')
    if (envelope.prev_hash !== this.#head) return this.#fail('prev_hash_mismatch', 'previous hash does not match the hash of the event before it')
    return true
  }

  #commit (hash: string): void {
    this.#size++
    this.#head = hash
  }

  #fail (reason: VerifyFailure, detail: string): false {
    const seq = this.#size
    this.#failure = { firstBadSeq: seq, reason, message: `Cannot verify event ${seq}: ${detail}` }
    return false
  }
}

/**
 * Verifies a sequence of envelopes from seq 0: every hash, every link, gap-free
 * seqs. Names the first bad sequence number and why.
 *
 * @example
 * const r = verifyEvents(ledger.events())
 * if (!r.ok) console.error(r.firstBadSeq, r.reason)
 */
export function verifyEvents (events: Iterable<unknown>): VerifyResult {
  const v = new ChainVerifier()
  for (const e of events) if (!v.push(e)) break
  return v.result()
}
