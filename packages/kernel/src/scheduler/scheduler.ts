import type { CanonicalValue } from '@os2/crypto'
import type { TokenStatus } from '../kernel-types.ts'
import type { StateRoot } from '../state/kernel-state.ts'

export const TOKEN_SECTION = 'token'
export const QUEUE_SECTION = 'queue'

/** A waiting token's queue entry: base priority, submission order, tick it was queued at, dependencies. */
export interface QueueEntry {
  priority: number
  order: number
  since: number
  after: string[]
}

export interface PickedToken {
  id: string
  effectivePriority: number
  waited: number
}

/**
 * Effective priority: the base priority plus one for every `agingTicks` ticks
 * the token has waited, so a low-priority token eventually outranks any
 * stream of newer high-priority ones.
 */
export function effectivePriority (entry: QueueEntry, tick: number, agingTicks: number): number {
  return entry.priority + Math.floor(Math.max(0, tick - entry.since) / agingTicks)
}

/** The submitted token itself, written once; `token` holds the changing status without it. */
export const TOKEN_SPEC_SECTION = 'token-spec'

type StoredStatus = Omit<TokenStatus, 'token'>

/** The token's status with its submitted token (assembled from two sections). */
export function getToken (state: StateRoot, id: string): TokenStatus | undefined {
  const status = state.get(TOKEN_SECTION, id) as unknown as StoredStatus | undefined
  if (status === undefined) return undefined
  return { token: state.get(TOKEN_SPEC_SECTION, id) as unknown as TokenStatus['token'], ...status }
}

/** Just the lifecycle state of a token. */
export function tokenState (state: StateRoot, id: string): TokenStatus['state'] | undefined {
  return (state.get(TOKEN_SECTION, id) as unknown as StoredStatus | undefined)?.state
}

/**
 * Stores a status. The token (with its arguments) is stored once, apart from
 * the status, so every status change hashes only the small status record.
 */
export function putToken (state: StateRoot, status: TokenStatus): StateRoot {
  const { token, ...rest } = status
  const next = state.has(TOKEN_SPEC_SECTION, token.id) ? state : state.set(TOKEN_SPEC_SECTION, token.id, token as unknown as CanonicalValue)
  return next.set(TOKEN_SECTION, token.id, rest as unknown as CanonicalValue)
}

/**
 * Picks the next runnable token: every dependency completed, highest effective
 * priority first, ties broken by submission order. Queued tokens whose
 * dependencies failed never reach the queue scan (they fail when the
 * dependency does), so a token is either runnable or still waiting.
 */
export function pickNext (state: StateRoot, tick: number, agingTicks: number): PickedToken | undefined {
  let best: { id: string, eff: number, order: number, since: number } | undefined
  for (const [id, raw] of state.section(QUEUE_SECTION)) {
    const entry = raw as unknown as QueueEntry
    let ready = true
    for (const dep of entry.after) {
      if (tokenState(state, dep) !== 'completed') { ready = false; break }
    }
    if (!ready) continue
    const eff = effectivePriority(entry, tick, agingTicks)
    if (best === undefined || eff > best.eff || (eff === best.eff && entry.order < best.order)) {
      best = { id, eff, order: entry.order, since: entry.since }
    }
  }
  return best === undefined ? undefined : { id: best.id, effectivePriority: best.eff, waited: Math.max(0, tick - best.since) }
}

/** Queued tokens that (directly) run after `id`, in submission order. */
export function dependentsOf (state: StateRoot, id: string): string[] {
  const out: Array<{ id: string, order: number }> = []
  for (const [tid, raw] of state.section(QUEUE_SECTION)) {
    const entry = raw as unknown as QueueEntry
    if (entry.after.includes(id)) out.push({ id: tid, order: entry.order })
  }
  return out.sort((a, b) => a.order - b.order).map(e => e.id)
}
