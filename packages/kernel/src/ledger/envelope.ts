import { canonicalize, sha256Hex } from '@os2/crypto'
import type { EventEnvelope } from './types.ts'

/** The deterministic id of the event at `seq` (no hash needed: seq is unique per ledger). */
export function eventIdFor (seq: number): string {
  return `ev-${seq}`
}

/** `SHA-256(canonical(envelope without hash))`: the hash every envelope carries. */
export function envelopeHash (envelope: Omit<EventEnvelope, 'hash'> & { hash?: string }): string {
  const { hash: _hash, ...body } = envelope
  return sha256Hex(canonicalize(body))
}

const ENVELOPE_KEYS = ['capability_id', 'event_id', 'hash', 'payload', 'prev_hash', 'seq', 'tick', 'token_id', 'type'] as const
const PAYLOAD_KEY = ',"payload":'

/**
 * The canonical JSON of `body` with `"hash"` spliced in at its sorted place
 * (between `event_id` and `payload`): canonicalize(envelope) from one
 * canonicalization of the body. `body` must have exactly the envelope keys.
 */
export function spliceHash (canonicalBody: string, hash: string): string {
  // `,"payload":` cannot occur inside a JSON string (its quote would be escaped), so the first hit is the key.
  const at = canonicalBody.indexOf(PAYLOAD_KEY)
  return `${canonicalBody.slice(0, at)},"hash":"${hash}"${canonicalBody.slice(at)}`
}

/** The stored form of an envelope: its canonical JSON, one line, no newline. */
export function encodeEnvelope (envelope: EventEnvelope): string {
  return canonicalize(envelope)
}

/** Why a value is not an envelope, or undefined when it has the envelope shape. */
export function envelopeShapeError (value: unknown): string | undefined {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return 'not a JSON object'
  const e = value as Record<string, unknown>
  if (typeof e.seq !== 'number' || !Number.isSafeInteger(e.seq) || e.seq < 0) return 'seq is not a non-negative integer'
  if (typeof e.tick !== 'number' || !Number.isSafeInteger(e.tick) || e.tick < 0) return 'tick is not a non-negative integer'
  if (typeof e.event_id !== 'string') return 'event_id is not a string'
  if (typeof e.type !== 'string') return 'type is not a string'
  if (e.capability_id !== null && typeof e.capability_id !== 'string') return 'capability_id is not a string or null'
  if (e.token_id !== null && typeof e.token_id !== 'string') return 'token_id is not a string or null'
  if (e.payload === null || typeof e.payload !== 'object' || Array.isArray(e.payload)) return 'payload is not an object'
  if (typeof e.prev_hash !== 'string') return 'prev_hash is not a string'
  if (typeof e.hash !== 'string') return 'hash is not a string'
  return undefined
}

/** True when `value` has exactly the nine envelope keys. */
export function hasExactEnvelopeKeys (value: object): boolean {
  const keys = Object.keys(value)
  if (keys.length !== ENVELOPE_KEYS.length) return false
  for (const k of ENVELOPE_KEYS) if (!Object.hasOwn(value, k)) return false
  return true
}
