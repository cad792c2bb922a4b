import type { SnapshotRecord } from './snapshot-record.ts'

/**
 * Where snapshot records live. The kernel core ships an in-memory store; the
 * file store (`<data-dir>/snapshots/<id>.json`, atomic temp file + rename) is in
 * `@os2/kernel/node`.
 */
export interface SnapshotStore {
  put(record: SnapshotRecord): Promise<void>
  get(id: string): Promise<SnapshotRecord | undefined>
  has(id: string): Promise<boolean>
  /** Ids, sorted. */
  list(): Promise<string[]>
  /** The snapshot flagged ready, if any. */
  ready(): Promise<string | null>
  setReady(id: string): Promise<void>
}

class MemorySnapshotStore implements SnapshotStore {
  readonly #records = new Map<string, SnapshotRecord>()
  #ready: string | null = null
  async put (record: SnapshotRecord): Promise<void> { this.#records.set(record.id, structuredClone(record)) }
  async get (id: string): Promise<SnapshotRecord | undefined> {
    const r = this.#records.get(id)
    return r === undefined ? undefined : structuredClone(r)
  }

  async has (id: string): Promise<boolean> { return this.#records.has(id) }
  async list (): Promise<string[]> { return [...this.#records.keys()].sort() }
  async ready (): Promise<string | null> { return this.#ready }
  async setReady (id: string): Promise<void> { this.#ready = id }
}

/** An in-memory snapshot store (tests, scratch kernels). */
export function createMemorySnapshotStore (): SnapshotStore {
  return new MemorySnapshotStore()
}
