import type { KernelErrorCode } from '../errors.ts'
import type { Grant } from '../kernel-types.ts'
import type { GrantScope } from '../protocol/schemas.ts'
import type { StateRoot } from '../state/kernel-state.ts'
import type { InvocationScope } from './types.ts'

/** Why a grant check failed; carried by `capability_violation` events. */
export type ViolationReason = 'missing' | 'revoked' | 'expired' | 'out_of_scope' | 'ceiling_exceeded' | 'rate_limited'

export const VIOLATION_CODES: Record<ViolationReason, KernelErrorCode> = {
  missing: 'GRANT_MISSING',
  revoked: 'GRANT_REVOKED',
  expired: 'GRANT_EXPIRED',
  out_of_scope: 'GRANT_OUT_OF_SCOPE',
  ceiling_exceeded: 'CEILING_EXCEEDED',
  rate_limited: 'RATE_LIMITED'
}

export type GrantCheck =
  | { ok: true, grant: Grant }
  | { ok: false, reason: ViolationReason, grantId?: string, detail: string }

export const GRANT_SECTION = 'grant'

/** Every grant, sorted by id. */
export function listGrants (state: StateRoot): Grant[] {
  const out: Grant[] = []
  const sec = state.section(GRANT_SECTION)
  for (const id of [...sec.keys()].sort()) out.push(sec.get(id) as unknown as Grant)
  return out
}

// Grants by holder, sorted by id, per grant section (sections are immutable: the index of
// one is valid as long as it lives). Rebuilt only when a grant or revoke made a new section.
const byHolder = new WeakMap<object, Map<string, Grant[]>>()
const NONE: Grant[] = []

/** The grants of `capability` to `principal`, sorted by id, without scanning every grant. */
export function grantsOf (state: StateRoot, principal: string, capability: string): readonly Grant[] {
  const sec = state.section(GRANT_SECTION)
  let index = byHolder.get(sec)
  if (index === undefined) {
    index = new Map()
    for (const g of listGrants(state)) {
      const holder = `${g.principal}\u0000${g.capability}`
      const list = index.get(holder)
      if (list === undefined) index.set(holder, [g])
      else list.push(g)
    }
    byHolder.set(sec, index)
  }
  return index.get(`${principal}\u0000${capability}`) ?? NONE
}

export function getGrant (state: StateRoot, id: string): Grant | undefined {
  return state.get(GRANT_SECTION, id) as unknown as Grant | undefined
}

/** Whether `host` matches an allow-list entry (exact, or `*.suffix` for any subdomain). */
export function hostAllowed (allow: readonly string[], host: string): boolean {
  const h = host.toLowerCase()
  return allow.some(entry => {
    const e = entry.toLowerCase()
    if (e === '*') return true
    if (e.startsWith('*.')) return h.endsWith(e.slice(1))
    return h === e
  })
}

/** Returns a description of the first part of `scope` the grant scope does not cover, or undefined. */
export function scopeGap (grant: GrantScope, scope: InvocationScope): string | undefined {
  if (grant.namespaces !== undefined && !grant.namespaces.includes('*')) {
    for (const ns of scope.namespaces ?? []) {
      if (!grant.namespaces.includes(ns)) return `namespace ${ns}`
    }
  }
  if (grant.hosts !== undefined) {
    for (const host of scope.hosts ?? []) {
      if (!hostAllowed(grant.hosts, host)) return `host ${host}`
    }
  }
  if (grant.pathPrefix !== undefined) {
    for (const path of scope.paths ?? []) {
      if (!path.startsWith(grant.pathPrefix) || path.split('/').includes('..')) return `path ${path}`
    }
  }
  return undefined
}

/**
 * Finds a grant letting `principal` invoke `capability` over `scope` at `tick`.
 * When none does, reports the most specific reason: no grant at all
 * (`missing`), only revoked ones (`revoked`), only ones outside their validity
 * window (`expired`), or only ones whose scope does not cover the invocation
 * (`out_of_scope`).
 */
export function checkGrant (state: StateRoot, principal: string, capability: string, scope: InvocationScope, tick: number): GrantCheck {
  const candidates = grantsOf(state, principal, capability)
  if (candidates.length === 0) return { ok: false, reason: 'missing', detail: `${principal} holds no grant for ${capability}` }
  // The usual answer first, allocating nothing: the first live, valid grant whose scope covers the call.
  for (const g of candidates) {
    if (!g.revoked && tick >= g.validFrom && (g.validUntil === null || tick < g.validUntil) && scopeGap(g.scope, scope) === undefined) return { ok: true, grant: g }
  }
  // No grant covers it: work out the most telling reason.
  const live = candidates.filter(g => !g.revoked)
  if (live.length === 0) {
    const last = candidates[candidates.length - 1]
    return { ok: false, reason: 'revoked', ...(last !== undefined ? { grantId: last.id } : {}), detail: `every grant of ${capability} to ${principal} was revoked` }
  }
  const valid = live.filter(g => tick >= g.validFrom && (g.validUntil === null || tick < g.validUntil))
  if (valid.length === 0) {
    const g = live[live.length - 1]
    return { ok: false, reason: 'expired', ...(g !== undefined ? { grantId: g.id } : {}), detail: `tick ${tick} is outside the validity window of every grant of ${capability} to ${principal}` }
  }
  let gap = ''
  for (const g of valid) {
    const missing = scopeGap(g.scope, scope)
    if (missing === undefined) return { ok: true, grant: g }
    gap = missing
  }
  const g = valid[valid.length - 1]
  return { ok: false, reason: 'out_of_scope', ...(g !== undefined ? { grantId: g.id } : {}), detail: `${gap} is outside the scope of every grant of ${capability} to ${principal}` }
}
