import { envelopeHash } from '../src/index.ts'
import type { EventEnvelope } from '../src/index.ts'

/** Rewrites event `at` with `edit`, then re-links and re-hashes the chain from there, so the chain verifies and only replay can tell. */
export function rehashFrom (events: readonly EventEnvelope[], at: number, edit: (e: EventEnvelope) => EventEnvelope): EventEnvelope[] {
  const out = events.slice(0, at)
  for (let i = at; i < events.length; i++) {
    const base = i === at ? edit(events[i] as EventEnvelope) : (events[i] as EventEnvelope)
    const prev = out[i - 1]?.hash ?? '0'.repeat(64)
    const { hash: _h, ...body } = { ...base, prev_hash: prev }
    out.push({ ...body, hash: envelopeHash(body) })
  }
  return out
}
