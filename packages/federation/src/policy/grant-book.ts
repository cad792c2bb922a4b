import { verifyRevocation } from '../bundle/revocation.ts'
import type { Revocation } from '../bundle/revocation.ts'

/**
 * A grant as federation policy sees it. Field for field a kernel `Grant`
 * (id, principal, capability, scope, validFrom, validUntil, version, revoked)
 * plus the issuer key that may revoke it.
 */
export interface FederationGrant {
  id: string
  /** Peer id of the node allowed to originate changes. */
  principal: string
  /** `memory.federate` (all kinds) or `memory.<kind>.write`. */
  capability: string
  /** Namespace patterns: `*`, `<ns>`, `<ns>/<key>`, or a prefix ending in `*`. */
  scope: { namespaces?: string[] | undefined }
  /** Validity window in ticks, inclusive start, exclusive end. */
  validFrom: number
  validUntil: number | null
  version: number
  revoked: boolean
  /** Raw Ed25519 public key (base64url) of the issuer, whose signed revocations are honoured. */
  issuer: string
}

/** Read-only policy lookups: the port the kernel (or a static config) implements. */
export interface GrantView {
  grant(id: string): FederationGrant | undefined
  /**
   * The receiver's own grant to `origin` for one of `capabilities` covering
   * `namespace` (or, failing that, the one that explains the refusal), used
   * when the bundle's grant id is not one this node knows. `valid` says
   * whether it is within its validity window on the receiver's clock.
   */
  forOrigin?(origin: string, capabilities: readonly string[], namespace: string): { grant: FederationGrant, valid: boolean } | undefined
}

export type RevocationOutcome = 'applied' | 'duplicate' | 'unknown_grant' | 'wrong_issuer' | 'signature_invalid'

/** A grant table that also learns signed revocations. */
export interface GrantBook extends GrantView {
  add(grant: FederationGrant): void
  list(): FederationGrant[]
  /** Applies a signed revocation from the grant's issuer; anything else changes nothing. */
  applyRevocation(revocation: Revocation): RevocationOutcome
  /** Revocations applied so far, in the order learned. */
  revocations(): Revocation[]
}

class DefaultGrantBook implements GrantBook {
  private readonly grants = new Map<string, FederationGrant>()
  private readonly learned: Revocation[] = []
  private readonly seen = new Set<string>()

  constructor (grants: Iterable<FederationGrant>) {
    for (const g of grants) this.add(g)
  }

  add (grant: FederationGrant): void {
    this.grants.set(grant.id, { ...grant, scope: { ...grant.scope } })
  }

  grant (id: string): FederationGrant | undefined {
    return this.grants.get(id)
  }

  list (): FederationGrant[] {
    return [...this.grants.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  applyRevocation (r: Revocation): RevocationOutcome {
    if (this.seen.has(r.revocation_id)) return 'duplicate'
    const g = this.grants.get(r.grant_id)
    if (g === undefined) return 'unknown_grant'
    if (g.issuer !== r.issuer) return 'wrong_issuer'
    if (!verifyRevocation(r)) return 'signature_invalid'
    this.seen.add(r.revocation_id)
    this.learned.push(r)
    g.revoked = true
    g.version = Math.max(g.version, r.version)
    return 'applied'
  }

  revocations (): Revocation[] {
    return [...this.learned]
  }
}

/** An in-memory grant book seeded with `grants`. */
export function createGrantBook (grants: Iterable<FederationGrant> = []): GrantBook {
  return new DefaultGrantBook(grants)
}

/** True when the namespace pattern list covers a touch path (`<ns>` or `<ns>/<key>`). */
export function scopeCovers (patterns: readonly string[] | undefined, path: string): boolean {
  if (patterns === undefined) return false
  const slash = path.indexOf('/')
  const ns = slash < 0 ? path : path.slice(0, slash)
  for (const p of patterns) {
    if (p === '*' || p === ns || p === path) return true
    if (p.endsWith('*') && path.startsWith(p.slice(0, -1))) return true
  }
  return false
}

/** True when the patterns could cover some part of `namespace` (the whole of it, or some keys in it). */
export function scopeTouchesNamespace (patterns: readonly string[] | undefined, namespace: string): boolean {
  if (patterns === undefined) return false
  return patterns.some(p => {
    if (p === '*' || p === namespace || p.startsWith(`${namespace}/`)) return true
    if (!p.endsWith('*')) return false
    const prefix = p.slice(0, -1)
    return namespace.startsWith(prefix) || prefix.startsWith(`${namespace}/`)
  })
}
