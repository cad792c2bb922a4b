import * as Y from 'yjs'
import { canonicalize } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'
import { FederationError } from '../errors.ts'
import { createCommit } from './commit.ts'
import { memoryName, parseMemoryName } from './memory-ref.ts'
import { canonicalState } from './memory-views.ts'
import type { Commit, CommitRecord } from './commit.ts'
import type { DeleteSet } from '../bundle/coalesce-updates.ts'
import type { MemoryRef } from './memory-ref.ts'

/** The Yjs documents of one node, one per memory, with each memory's commit chain. */
export interface MemoryStore {
  /** Names of the open memories, sorted. */
  names(): string[]
  /** The live document of a memory, created empty on first use. */
  doc(ref: MemoryRef | string): Y.Doc
  /**
   * Runs `fn` against the memory's document in one Yjs transaction and records
   * the resulting update as a commit; `undefined` when `fn` changed nothing.
   */
  write(ref: MemoryRef | string, meta: { author: string, tick: number }, fn: (doc: Y.Doc) => void): LocalCommit | undefined
  /** Applies an update that already passed policy and records it as a commit. */
  apply(ref: MemoryRef | string, update: Uint8Array, meta: { author: string, tick: number }): CommitRecord
  /** Applies many updates in one transaction (recovery), recording each as a commit. */
  applyMany(ref: MemoryRef | string, items: Array<{ update: Uint8Array, author: string, tick: number }>): void
  commits(ref: MemoryRef | string): readonly Commit[]
  head(ref: MemoryRef | string): string | undefined
  /**
   * A scratch document holding the memory as it was right after `commitId`.
   *
   * @throws FederationError `COMMIT_NOT_FOUND` when the memory has no such commit
   */
  readAt(ref: MemoryRef | string, commitId: string): Y.Doc
  /** Canonical state of one memory. */
  canonical(ref: MemoryRef | string): CanonicalValue
  /** Canonical state of every memory, keyed by memory name. */
  canonicalAll(): Record<string, CanonicalValue>
  /** `canonicalize(canonicalAll())`: equal strings mean converged replicas. */
  fingerprint(): string
}

const LOCAL = Symbol('local-write')

/** A local write's commit, with what a sender needs to encode a run of them as one update. */
export interface LocalCommit extends CommitRecord {
  /** The document's client id during the write. */
  client: number
  /** The client's clock before the write. */
  clockBefore: number
  /** What the write deleted. */
  deletes: DeleteSet
}

interface MemoryEntry {
  name: string
  ref: MemoryRef
  doc: Y.Doc
  commits: CommitRecord[]
  captured: Uint8Array | undefined
  capturedDeletes: DeleteSet | undefined
  /** The 'update' listener attached only around local transactions. */
  capture: (update: Uint8Array, origin: unknown, doc: Y.Doc, tr: Y.Transaction) => void
}

class DefaultMemoryStore implements MemoryStore {
  private readonly entries = new Map<string, MemoryEntry>()

  names (): string[] {
    return [...this.entries.keys()].sort()
  }

  private entry (ref: MemoryRef | string): MemoryEntry {
    // A known name needs no parsing: only names that passed validation are ever stored.
    if (typeof ref === 'string') {
      const known = this.entries.get(ref)
      if (known !== undefined) return known
    }
    const name = typeof ref === 'string' ? memoryName(parseMemoryName(ref)) : memoryName(ref)
    let e = this.entries.get(name)
    if (e === undefined) {
      const doc = new Y.Doc({ gc: true })
      const created: MemoryEntry = { name, ref: parseMemoryName(name), doc, commits: [], captured: undefined, capturedDeletes: undefined, capture: () => {} }
      created.capture = (update: Uint8Array, origin: unknown, _doc: Y.Doc, tr: Y.Transaction): void => {
        if (origin !== LOCAL) return
        created.captured = update
        created.capturedDeletes = tr.deleteSet
      }
      this.entries.set(name, created)
      e = created
    }
    return e
  }

  doc (ref: MemoryRef | string): Y.Doc {
    return this.entry(ref).doc
  }

  write (ref: MemoryRef | string, meta: { author: string, tick: number }, fn: (doc: Y.Doc) => void): LocalCommit | undefined {
    const e = this.entry(ref)
    e.captured = undefined
    const client = e.doc.clientID
    const clockBefore = Y.getState(e.doc.store, client)
    // Listen only around the local transaction: with no 'update' listener, Yjs does not re-encode remote updates it applies.
    e.doc.on('update', e.capture)
    try {
      e.doc.transact(() => { fn(e.doc) }, LOCAL)
    } finally {
      e.doc.off('update', e.capture)
    }
    const update = e.captured as Uint8Array | undefined
    const deletes = e.capturedDeletes
    e.captured = undefined
    e.capturedDeletes = undefined
    if (update === undefined || deletes === undefined) return undefined
    return { ...this.record(e, update, meta), client, clockBefore, deletes }
  }

  apply (ref: MemoryRef | string, update: Uint8Array, meta: { author: string, tick: number }): CommitRecord {
    const e = this.entry(ref)
    Y.applyUpdate(e.doc, update, 'remote')
    return this.record(e, update, meta)
  }

  applyMany (ref: MemoryRef | string, items: Array<{ update: Uint8Array, author: string, tick: number }>): void {
    const e = this.entry(ref)
    e.doc.transact(() => {
      for (const item of items) Y.applyUpdate(e.doc, item.update, 'remote')
    }, 'remote')
    for (const item of items) this.record(e, item.update, item)
  }

  private record (e: MemoryEntry, update: Uint8Array, meta: { author: string, tick: number }): CommitRecord {
    const last = e.commits[e.commits.length - 1]
    const commit = createCommit({ memory: e.name, parents: last === undefined ? [] : [last.id], author: meta.author, tick: meta.tick, update })
    e.commits.push(commit)
    return commit
  }

  commits (ref: MemoryRef | string): readonly Commit[] {
    return this.entry(ref).commits.map(({ update: _u, ...c }) => c)
  }

  head (ref: MemoryRef | string): string | undefined {
    const cs = this.entry(ref).commits
    return cs[cs.length - 1]?.id
  }

  readAt (ref: MemoryRef | string, commitId: string): Y.Doc {
    const e = this.entry(ref)
    const idx = e.commits.findIndex(c => c.id === commitId)
    if (idx < 0) throw new FederationError('COMMIT_NOT_FOUND', `Cannot read ${e.name} at ${commitId.slice(0, 16)}: no such commit`)
    const scratch = new Y.Doc()
    scratch.transact(() => {
      for (let i = 0; i <= idx; i++) Y.applyUpdate(scratch, (e.commits[i] as CommitRecord).update)
    })
    return scratch
  }

  canonical (ref: MemoryRef | string): CanonicalValue {
    const e = this.entry(ref)
    return canonicalState(e.ref.kind, e.doc)
  }

  canonicalAll (): Record<string, CanonicalValue> {
    const out: Record<string, CanonicalValue> = {}
    for (const name of this.names()) {
      if ((this.entries.get(name)?.commits.length ?? 0) > 0) out[name] = this.canonical(name)
    }
    return out
  }

  fingerprint (): string {
    return canonicalize(this.canonicalAll())
  }
}

/** An empty in-memory store of memory documents. */
export function createMemoryStore (): MemoryStore {
  return new DefaultMemoryStore()
}
