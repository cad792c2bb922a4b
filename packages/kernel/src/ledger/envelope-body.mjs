// Plain JavaScript (node: and the canonical encoder's plain-JS module only)
// so the replay chain worker (node/replay-chain-worker.mjs) encodes envelope
// bodies with the very code the ledger uses (envelope.ts).
import { encodeCanonical, quote } from '@os2/crypto/canonical-encode'

/**
 * `canonicalize(envelope without hash)`, byte for byte, for an envelope that
 * has only the envelope members (the caller checked): the eight fixed fields
 * are written straight in their canonical (sorted) order and only the
 * payload goes through the encoder. Undefined when a field has the wrong
 * type or the payload is not canonical JSON (the caller's generic path then
 * gives the exact output or error).
 *
 * @param {{ capability_id: unknown, event_id: unknown, payload: unknown, prev_hash: unknown, seq: unknown, tick: unknown, token_id: unknown, type: unknown }} e
 * @returns {string | undefined}
 */
export function envelopeBodyText (e) {
  const cap = stringOrNull(e.capability_id)
  const tok = stringOrNull(e.token_id)
  if (cap === undefined || tok === undefined || typeof e.event_id !== 'string' || typeof e.type !== 'string' || typeof e.prev_hash !== 'string' ||
    !Number.isFinite(e.seq) || !Number.isFinite(e.tick) || typeof e.payload !== 'object' || e.payload === null) return undefined
  const payload = encodeCanonical(e.payload)
  if (payload === undefined) return undefined
  // String(n) is JSON.stringify(n) for every finite number (-0 included).
  return `{"capability_id":${cap},"event_id":${quote(e.event_id)},"payload":${payload},"prev_hash":${quote(e.prev_hash)},"seq":${String(e.seq)},"tick":${String(e.tick)},"token_id":${tok},"type":${quote(e.type)}}`
}

/**
 * A string field as canonical JSON, or undefined when it is neither a string nor null.
 *
 * @param {unknown} value
 * @returns {string | undefined}
 */
function stringOrNull (value) {
  if (value === null) return 'null'
  return typeof value === 'string' ? quote(value) : undefined
}
