import { createGrantBook, scopeTouchesNamespace } from '../policy/grant-book.ts'
import type { Revocation } from '../bundle/revocation.ts'
import type { FederationGrant, GrantBook, RevocationOutcome } from '../policy/grant-book.ts'

/** A kernel grant, as `kernel.grants()` lists it. */
export interface KernelGrantLike {
  id: string
  principal: string
  capability: string
  scope: { namespaces?: string[] | undefined }
  validFrom: number
  validUntil: number | null
  version: number
  revoked: boolean
}

export interface KernelGrantBookComponents {
  /** The kernel's grants (`kernel.grants()`), read on every lookup. */
  grants(): KernelGrantLike[]
  /** The kernel's current virtual tick: receiver-side grants are checked against it. */
  now(): number
  /** This node's public key (base64url): the issuer of its kernel's grants. */
  issuer: string
}

/**
 * A {@link GrantBook} backed by the kernel's grants, plus an optional shared
 * book (cluster-wide grants with signed revocations). Kernel grants are this
 * node's own policy: a grant to a peer id of `memory.federate` or
 * `memory.<kind>.write` lets that peer's bundles merge into the granted
 * namespaces (`scope.namespaces` absent = every namespace, as in the kernel).
 * They are revoked with `RevokeCapability` and take effect at once.
 */
export function createKernelGrantBook (components: KernelGrantBookComponents, shared: GrantBook = createGrantBook()): GrantBook {
  const toFederation = (g: KernelGrantLike): FederationGrant => ({
    id: g.id,
    principal: g.principal,
    capability: g.capability,
    scope: { namespaces: g.scope.namespaces ?? ['*'] },
    validFrom: g.validFrom,
    validUntil: g.validUntil,
    version: g.version,
    revoked: g.revoked,
    issuer: components.issuer
  })
  return {
    grant (id) {
      const g = components.grants().find(k => k.id === id)
      return g === undefined ? shared.grant(id) : toFederation(g)
    },
    forOrigin (origin, capabilities, namespace) {
      const now = components.now()
      const candidates = components.grants().filter(g => g.principal === origin && capabilities.includes(g.capability))
      const covering = candidates.filter(g => scopeTouchesNamespace(g.scope.namespaces ?? ['*'], namespace))
      const valid = (g: KernelGrantLike): boolean => now >= g.validFrom && (g.validUntil === null || now < g.validUntil)
      // Most useful first: a live covering grant; else the reason there is none (revoked, expired, out of scope).
      const found = covering.find(g => !g.revoked && valid(g)) ?? covering.find(g => g.revoked) ?? covering[0] ?? candidates[0]
      return found === undefined ? undefined : { grant: toFederation(found), valid: valid(found) }
    },
    add: grant => { shared.add(grant) },
    list: () => [...components.grants().map(toFederation), ...shared.list()],
    applyRevocation: (r: Revocation): RevocationOutcome => shared.applyRevocation(r),
    revocations: () => shared.revocations()
  }
}
