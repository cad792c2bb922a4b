import type * as Y from 'yjs'
import { bundleDigest, bundleUpdate, parseFederatedChange, verifyFederatedChange } from '../bundle/federated-change.ts'
import { parseMemoryName } from '../memory/memory-ref.ts'
import { scopeCovers, scopeTouchesNamespace } from './grant-book.ts'
import { analyzeUpdate } from './analyze-update.ts'
import type { FederatedChange } from '../bundle/federated-change.ts'
import type { MemoryRef } from '../memory/memory-ref.ts'
import type { GrantView } from './grant-book.ts'
import type { ReasonCode } from './verdict.ts'

/** What policy needs to know about the receiver's state. */
export interface PolicyContext {
  grants: GrantView
  maxBundleBytes: number
  /** Last accepted seq from `origin` (0 when none). */
  lastSeq(origin: string): number
  /** `bundle_id` and signature of the bundle decided at `seq` from `origin`, if any. */
  decided(origin: string, seq: number): { id: string, signature: string } | undefined
  /** True for a bundle object whose signature this node already verified (a held bundle being retried). */
  verified?(bundle: FederatedChange): boolean
  /** The memory's current document; policy only reads it. */
  doc(memory: string): Y.Doc
}

export type PolicyOutcome =
  | { kind: 'accepted', bundle: FederatedChange, ref: MemoryRef, update: Uint8Array, touches: string[] }
  | { kind: 'held', reason: 'GAP_HELD' | 'DEPS_HELD', bundle: FederatedChange, detail: string }
  | {
    kind: 'rejected'
    reason: ReasonCode
    detail: string
    bundle: FederatedChange | null
    /**
     * True for a final decision on an authentic bundle that was next in its
     * origin's sequence: the seq is used up (so one refused change does not
     * block every later one) and the bundle is still relayed, since other nodes
     * decide for themselves.
     */
    consumesSeq: boolean
  }

const capabilityFor = (ref: MemoryRef): string[] => ['memory.federate', `memory.${ref.kind}.write`]

/**
 * Decides one incoming bundle: size, shape, signature, sequence, grant, scope.
 * Order: size, shape, bundle id, signature, sequence (stale, replayed, gap),
 * grant (missing, revoked, expired, scope), then the update's touches.
 * Nothing is applied: on acceptance the caller applies `update`.
 */
export function evaluateBundle (ctx: PolicyContext, input: Uint8Array | FederatedChange): PolicyOutcome {
  let bundle: FederatedChange
  if (input instanceof Uint8Array) {
    const parsed = parseFederatedChange(input, ctx.maxBundleBytes)
    if (!parsed.ok) return { kind: 'rejected', reason: parsed.reason, detail: parsed.detail, bundle: null, consumesSeq: false }
    bundle = parsed.value
  } else {
    bundle = input
  }
  let authentic = false
  const reject = (reason: ReasonCode, detail: string): PolicyOutcome => ({ kind: 'rejected', reason, detail, bundle, consumesSeq: authentic })

  let ref: MemoryRef
  try {
    ref = parseMemoryName(bundle.memory)
  } catch {
    return reject('MALFORMED', 'invalid memory name')
  }
  const digest = bundleDigest(bundle)
  if (digest.id !== bundle.bundle_id) return reject('MALFORMED', 'bundle_id does not match content')
  if (bundle.update.length > ctx.maxBundleBytes) return reject('OVERSIZED', 'update larger than the bundle limit')
  const last = ctx.lastSeq(bundle.origin)
  const before = bundle.seq <= last ? ctx.decided(bundle.origin, bundle.seq) : undefined
  // A byte-identical copy of a bundle already verified and decided: its id binds the content, so no second verify.
  const copy = before !== undefined && before.id === bundle.bundle_id && before.signature === bundle.signature
  if (!copy && ctx.verified?.(bundle) !== true && !verifyFederatedChange(bundle, digest)) return reject('SIGNATURE_INVALID', 'signature does not verify against the origin key')

  if (bundle.seq <= last) {
    return before?.id === bundle.bundle_id
      ? reject('REPLAYED', `seq ${bundle.seq} already decided`)
      : reject('STALE_SEQ', `seq ${bundle.seq}, expected ${last + 1}`)
  }
  if (bundle.seq > last + 1) return { kind: 'held', reason: 'GAP_HELD', bundle, detail: `seq ${bundle.seq}, expected ${last + 1}` }

  authentic = true
  let grant = ctx.grants.grant(bundle.grant.id)
  // The receiver's own grant to the origin (a kernel grant), when the bundle names none this node knows.
  const own = (grant === undefined || grant.principal !== bundle.origin) ? ctx.grants.forOrigin?.(bundle.origin, capabilityFor(ref), ref.namespace) : undefined
  if (own !== undefined) grant = own.grant
  if (grant === undefined || grant.principal !== bundle.origin) return reject('NO_GRANT', `no grant ${bundle.grant.id} for origin`)
  if (!capabilityFor(ref).includes(grant.capability)) return reject('NO_GRANT', `grant ${grant.id} is for ${grant.capability}`)
  if (own !== undefined) {
    // Versions and window of a receiver-side grant are the receiver's own: checked on its clock.
    if (grant.revoked) return reject('GRANT_REVOKED', `grant ${grant.id} revoked (version ${grant.version})`)
    if (!own.valid) return reject('GRANT_EXPIRED', `grant ${grant.id} not valid at this node's tick`)
  } else {
    if (grant.revoked || bundle.grant.version < grant.version) return reject('GRANT_REVOKED', `grant ${grant.id} revoked (version ${grant.version})`)
    if (bundle.grant.version > grant.version) return reject('NO_GRANT', `grant ${grant.id} version ${bundle.grant.version} unknown`)
    if (bundle.tick < grant.validFrom || (grant.validUntil !== null && bundle.tick >= grant.validUntil)) return reject('GRANT_EXPIRED', `tick ${bundle.tick} outside grant window`)
  }
  if (!scopeTouchesNamespace(grant.scope.namespaces, ref.namespace)) {
    return reject('OUT_OF_SCOPE', `namespace ${ref.namespace} not in grant scope`)
  }

  const update = bundleUpdate(bundle)
  let report
  try {
    report = analyzeUpdate(ctx.doc(bundle.memory), ref, update)
  } catch {
    return reject('MALFORMED', 'update does not decode')
  }
  if (report.violations.length > 0) return reject('OUT_OF_SCOPE', `update ${report.violations.join(', ')}`)
  const uncovered = report.touches.filter(t => !scopeCovers(grant.scope.namespaces, t))
  if (uncovered.length > 0) return reject('OUT_OF_SCOPE', `touches ${uncovered.slice(0, 3).join(', ')} outside the grant scope`)
  if (report.pending) return { kind: 'held', reason: 'DEPS_HELD', bundle, detail: 'update depends on changes not yet received' }
  return { kind: 'accepted', bundle, ref, update, touches: report.touches }
}
