import type { Revocation } from '../bundle/revocation.ts'

/** One journal entry. */
export interface StoredBundle { bytes: Uint8Array, accepted: boolean }

/** What a replica persists: the journal of accepted bundles (own and remote, in order) and learned revocations. */
export interface ReplicaStorage {
  /** Everything persisted so far; a torn last journal line is dropped. */
  load(): { bundles: StoredBundle[], revocations: Revocation[] }
  /** Appends a decided bundle: merged (`accepted`) or refused but sequence-consuming. */
  appendBundle(bytes: Uint8Array, accepted: boolean): void
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
