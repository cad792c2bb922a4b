import * as Y from 'yjs'
import { canonicalize } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'
import { FederationError } from '../errors.ts'
import { ROOT_NAME } from './memory-ref.ts'
import type { MemoryKind } from './memory-ref.ts'
import { MAX_KEY_LENGTH, MAX_VALUE_BYTES, MAX_VECTOR_DIMENSION } from './memory-limits.ts'

export { MAX_KEY_LENGTH, MAX_VALUE_BYTES, MAX_VECTOR_DIMENSION }

/** Key/value memory over a `Y.Map` of JSON values. */
export interface KvView {
  get(key: string): CanonicalValue | undefined
  set(key: string, value: CanonicalValue): void
  delete(key: string): void
  has(key: string): boolean
  /** Keys in sorted order. */
  keys(): string[]
}

/** An episodic event: any JSON value, appended and never changed. */
export type EpisodicEvent = CanonicalValue

/** Append-only log over a `Y.Array`. */
export interface EpisodicView {
  append(...events: EpisodicEvent[]): void
  list(): EpisodicEvent[]
  readonly length: number
}

export interface VectorEntry {
  id: string
  vector: number[]
  metadata: CanonicalValue
}

export interface VectorHit {
  id: string
  score: number
  metadata: CanonicalValue
}

/** Vectors (id to vector plus metadata) with exact top-k cosine search. */
export interface VectorView {
  upsert(id: string, vector: number[], metadata?: CanonicalValue): void
  remove(id: string): void
  get(id: string): VectorEntry | undefined
  ids(): string[]
  /** The `k` entries most similar to `query` by cosine similarity; ties broken by id. */
  search(query: number[], k: number): VectorHit[]
}

/** Shared text (used for editing traces). */
export interface TextView {
  insert(index: number, text: string): void
  delete(index: number, length: number): void
  toString(): string
  readonly length: number
}

function checkKey (key: string, what: string): void {
  if (typeof key !== 'string' || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new FederationError('VALUE_INVALID', `Cannot use ${what} ${JSON.stringify(String(key).slice(0, 40))}: expected 1-${MAX_KEY_LENGTH} characters`)
  }
}

function checkValue (value: unknown, what: string): void {
  let encoded: string
  try {
    encoded = canonicalize(value)
  } catch (err) {
    throw new FederationError('VALUE_INVALID', `Cannot store ${what}: not a JSON value`, { cause: err })
  }
  if (encoded.length > MAX_VALUE_BYTES) {
    throw new FederationError('VALUE_INVALID', `Cannot store ${what}: ${encoded.length} bytes, limit ${MAX_VALUE_BYTES}`)
  }
}

function checkVector (vector: unknown): asserts vector is number[] {
  if (!Array.isArray(vector) || vector.length === 0 || vector.length > MAX_VECTOR_DIMENSION || !vector.every(x => typeof x === 'number' && Number.isFinite(x))) {
    throw new FederationError('VALUE_INVALID', `Cannot store vector: expected 1-${MAX_VECTOR_DIMENSION} finite numbers`)
  }
}

/** Key/value view of a document. */
export function kvView (doc: Y.Doc): KvView {
  const map = doc.getMap<CanonicalValue>(ROOT_NAME.kv)
  return {
    get: key => plain(map.get(key)) as CanonicalValue | undefined,
    set (key, value) {
      checkKey(key, 'key')
      checkValue(value, `value of ${key}`)
      map.set(key, value)
    },
    delete (key) { map.delete(key) },
    has: key => map.has(key),
    keys: () => [...map.keys()].sort()
  }
}

/** Episodic view of a document. */
export function episodicView (doc: Y.Doc): EpisodicView {
  const arr = doc.getArray<EpisodicEvent>(ROOT_NAME.episodic)
  return {
    append (...events) {
      for (const e of events) checkValue(e, 'event')
      arr.push(events)
    },
    list: () => arr.toArray().map(e => plain(e) as EpisodicEvent),
    get length () { return arr.length }
  }
}

interface StoredVector { vector: number[], metadata: CanonicalValue, norm: number }

/** Vector view of a document. */
export function vectorView (doc: Y.Doc): VectorView {
  const map = doc.getMap<StoredVector>(ROOT_NAME.vector)
  return {
    upsert (id, vector, metadata = null) {
      checkKey(id, 'vector id')
      checkVector(vector)
      checkValue(metadata, `metadata of ${id}`)
      map.set(id, { vector: [...vector], metadata, norm: Math.hypot(...vector) })
    },
    remove (id) { map.delete(id) },
    get (id) {
      const v = map.get(id)
      return v === undefined ? undefined : { id, vector: [...v.vector], metadata: plain(v.metadata) as CanonicalValue }
    },
    ids: () => [...map.keys()].sort(),
    search (query, k) {
      checkVector(query)
      const qn = Math.hypot(...query)
      const hits: VectorHit[] = []
      for (const [id, v] of map.entries()) {
        if (!isStoredVector(v) || v.vector.length !== query.length) continue
        let dot = 0
        for (let i = 0; i < query.length; i++) dot += (query[i] as number) * (v.vector[i] as number)
        const denom = qn * v.norm
        hits.push({ id, score: denom === 0 ? 0 : dot / denom, metadata: v.metadata })
      }
      hits.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
      return hits.slice(0, Math.max(0, k)).map(h => ({ ...h, metadata: plain(h.metadata) as CanonicalValue }))
    }
  }
}

function isStoredVector (v: unknown): v is StoredVector {
  return typeof v === 'object' && v !== null && Array.isArray((v as StoredVector).vector) && typeof (v as StoredVector).norm === 'number'
}

/** Text view of a document. */
export function textView (doc: Y.Doc): TextView {
  const text = doc.getText(ROOT_NAME.text)
  return {
    insert: (index, s) => { text.insert(index, s) },
    delete: (index, length) => { text.delete(index, length) },
    toString: () => text.toString(),
    get length () { return text.length }
  }
}

/**
 * The canonical form of a memory document: kv and vector as objects (sorted by
 * the canonical encoder), episodic as an array, text as a string. Two replicas
 * have converged exactly when `canonicalize(canonicalState(...))` is equal.
 */
export function canonicalState (kind: MemoryKind, doc: Y.Doc): CanonicalValue {
  switch (kind) {
    case 'kv': {
      const out: Record<string, CanonicalValue> = {}
      for (const [k, v] of doc.getMap(ROOT_NAME.kv).entries()) out[k] = plain(v) as CanonicalValue
      return out
    }
    case 'episodic':
      return doc.getArray(ROOT_NAME.episodic).toArray().map(v => plain(v) as CanonicalValue)
    case 'vector': {
      const out: Record<string, CanonicalValue> = {}
      for (const [k, v] of doc.getMap(ROOT_NAME.vector).entries()) {
        const sv = v as StoredVector
        out[k] = isStoredVector(sv) ? { vector: sv.vector, metadata: plain(sv.metadata) as CanonicalValue } : (plain(sv) as CanonicalValue)
      }
      return out
    }
    case 'text':
      return doc.getText(ROOT_NAME.text).toString()
  }
}

// Nested shared types (only possible from a remote update) are shown as JSON.
function plain (v: unknown): unknown {
  if (v instanceof Y.AbstractType) return v.toJSON() as unknown
  return v
}
