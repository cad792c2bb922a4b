import type { Revocation } from '../bundle/revocation.ts'

/** What a replica persists: the journal of accepted bundles (own and remote, in order) and learned revocations. */
export interface ReplicaStorage {
  /** Everything persisted so far; a torn last journal line is dropped. */
  load(): { bundles: Uint8Array[], revocations: Revocation[] }
  appendBundle(bytes: Uint8Array): void
  appendRevocation(revocation: Revocation): void
  /** Writes one memory's full Yjs state, atomically. */
  saveMemoryState(memory: string, state: Uint8Array): void
  close(): void
}

/** Storage that keeps nothing (tests, benchmarks). */
export function createNullStorage (): ReplicaStorage {
  return {
    load: () => ({ bundles: [], revocations: [] }),
    appendBundle () {},
    appendRevocation () {},
    saveMemoryState () {},
    close () {}
  }
}
