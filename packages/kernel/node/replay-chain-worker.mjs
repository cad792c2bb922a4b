// Checks a recorded chain's hashes and links off the main thread while the
// kernel replays it (see parallel-replay.ts). Plain JavaScript with only
// node: imports and the canonical encoder's plain-JS module, so it starts in
// milliseconds under tsx, vitest or a bundle. Events arrive as JSON text, a
// chunk at a time and in order; the answer is "every event hashes and links
// right" or "look again from seq N": the exact verifier on the main thread
// judges anything questioned.
import { parentPort } from 'node:worker_threads'
import { hash } from 'node:crypto'
import { envelopeBodyText } from '../src/ledger/envelope-body.mjs'

const ZERO_HASH = '0'.repeat(64)
const ENVELOPE_KEYS = ['capability_id', 'event_id', 'hash', 'payload', 'prev_hash', 'seq', 'tick', 'token_id', 'type']

let seq = 0
let head = ZERO_HASH
/** @type {number | undefined} */
let questioned

/** @param {Record<string, unknown>} e */
function hasEnvelopeKeys (e) {
  let own = 0
  for (const k in e) if (Object.hasOwn(e, k)) own++
  return own === ENVELOPE_KEYS.length && ENVELOPE_KEYS.every(k => Object.hasOwn(e, k))
}

/** @param {unknown} e */
function check (e) {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return false
  const envelope = /** @type {Record<string, unknown>} */ (e)
  if (!hasEnvelopeKeys(envelope) || envelope.seq !== seq || envelope.prev_hash !== head || typeof envelope.hash !== 'string') return false
  // Nine members, hash among them: the other eight are exactly the body's (the body encoder checks their types).
  const body = envelopeBodyText(/** @type {Parameters<typeof envelopeBodyText>[0]} */ (envelope))
  return body !== undefined && hash('sha256', body, 'hex') === envelope.hash
}

parentPort?.on('message', (/** @type {{ json: string } | { end: true }} */ msg) => {
  if ('end' in msg) {
    parentPort?.postMessage(questioned === undefined ? { ok: true, size: seq, head } : { ok: false, seq: questioned })
    return
  }
  if (questioned !== undefined) return
  let events
  try { events = JSON.parse(msg.json) } catch { questioned = seq; return }
  for (const e of events) {
    if (!check(e)) { questioned = seq; return }
    head = /** @type {{ hash: string }} */ (e).hash
    seq++
  }
})
