/** `canonicalize(envelope without hash)` for an envelope with only the envelope members, or undefined (take the generic path). */
export function envelopeBodyText (e: { capability_id: unknown, event_id: unknown, payload: unknown, prev_hash: unknown, seq: unknown, tick: unknown, token_id: unknown, type: unknown }): string | undefined
