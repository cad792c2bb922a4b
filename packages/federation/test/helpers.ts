import { keyPairFromSeed } from '@os2/crypto'
import { createFederationReplica } from '../src/replica.ts'
import { createGrantBook } from '../src/policy/grant-book.ts'
import { createMemoryLedger } from '../src/ledger-port.ts'
import { nodeIdentity } from '../src/identity.ts'
import type { FederationGrant, GrantBook } from '../src/policy/grant-book.ts'
import type { MemoryLedger } from '../src/ledger-port.ts'
import type { NodeIdentity } from '../src/identity.ts'
import type { FederationReplica, FederationReplicaInit } from '../src/replica.ts'
import type { ReplicaStorage } from '../src/storage/replica-storage.ts'

/** Deterministic identity number `n`. */
export function identity (n: number): NodeIdentity {
  const seed = new Uint8Array(32)
  seed[0] = n
  seed[31] = 0x5a
  return nodeIdentity(keyPairFromSeed(seed))
}

/** The operator key that issues (and may revoke) grants in tests. */
export const operator = keyPairFromSeed(new Uint8Array(32).fill(7))

export function grant (id: string, principal: string, fields: Partial<FederationGrant> = {}): FederationGrant {
  return {
    id,
    principal,
    capability: 'memory.federate',
    scope: { namespaces: ['*'] },
    validFrom: 0,
    validUntil: null,
    version: 1,
    revoked: false,
    issuer: operator.publicKey,
    ...fields
  }
}

export interface TestNode {
  id: NodeIdentity
  replica: FederationReplica
  ledger: MemoryLedger
  grants: GrantBook
  tick: { value: number }
}

/** A replica whose grant book holds `grants` (default: a `*` grant for each of `peers`). */
export function testNode (id: NodeIdentity, grants: FederationGrant[], opts: { storage?: ReplicaStorage, init?: FederationReplicaInit } = {}): TestNode {
  const ledger = createMemoryLedger()
  const book = createGrantBook(grants)
  const tick = { value: 1 }
  const replica = createFederationReplica({
    identity: id,
    grants: book,
    ledger,
    clock: { now: () => tick.value },
    ...(opts.storage !== undefined ? { storage: opts.storage } : {})
  }, opts.init ?? {})
  return { id, replica, ledger, grants: book, tick }
}

/** Verdict events recorded by a node. */
export function verdicts (node: TestNode): Array<{ verdict: string, reason: string | null, seq: number | null, origin: string | null, bundle_id: string | null }> {
  return node.ledger.events().filter(e => e.type === 'federation.verdict').map(e => e.payload as { verdict: string, reason: string | null, seq: number | null, origin: string | null, bundle_id: string | null })
}
