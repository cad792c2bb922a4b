import { Map as IMap, Set as ISet } from 'immutable'
import type { CanonicalValue } from '@os2/crypto'
import { addDigest, entryDigest, formatDigest, subDigest } from './state-hash.ts'

/** One state entry as it appears in a delta: `[section, key, value]` sets, `[section, key]` deletes. */
export type StateChange = readonly [string, string, CanonicalValue] | readonly [string, string]

/**
 * The kernel state: a persistent (structurally shared) two-level map
 * `section → key → value`, plus the incremental state hash and the set of
 * entries changed since the last snapshot. Every operation returns a new root
 * and leaves the old one untouched, so capturing a snapshot is keeping a
 * reference (O(1)) and rolling back a failed token is dropping its draft.
 *
 * Sections used by the kernel: `kv/<namespace>` (key/value state), `grant`,
 * `token`, `queue`, `usage`, `bucket`, `snapshot`, `meta`.
 */
export interface StateRoot {
  get(section: string, key: string): CanonicalValue | undefined
  has(section: string, key: string): boolean
  set(section: string, key: string, value: CanonicalValue): StateRoot
  delete(section: string, key: string): StateRoot
  /** Applies many changes in one batch (used to build or restore big states). */
  apply(changes: Iterable<StateChange>): StateRoot
  /** The entries of one section (unsorted persistent map), or an empty map. */
  section(section: string): IMap<string, CanonicalValue>
  /** Section names, sorted. */
  sections(): string[]
  /** Number of entries across all sections. */
  readonly size: number
  /** The incremental state hash (64 hex digits). */
  hash(): string
  /** Entries changed since the last `clearDirty()`, as a sorted delta against the current values. */
  dirtyChanges(): StateChange[]
  readonly dirtyCount: number
  clearDirty(): StateRoot
  /** Every entry, sorted by section then key. */
  entries(): Array<[string, string, CanonicalValue]>
}

const SEP = '\u0000'
const EMPTY_SECTION: IMap<string, CanonicalValue> = IMap()

class PersistentState implements StateRoot {
  readonly #data: IMap<string, IMap<string, CanonicalValue>>
  readonly #acc: bigint
  readonly #dirty: ISet<string>
  readonly size: number

  constructor (data: IMap<string, IMap<string, CanonicalValue>>, acc: bigint, dirty: ISet<string>, size: number) {
    this.#data = data
    this.#acc = acc
    this.#dirty = dirty
    this.size = size
  }

  get (section: string, key: string): CanonicalValue | undefined {
    return this.#data.get(section)?.get(key)
  }

  has (section: string, key: string): boolean {
    return this.#data.get(section)?.has(key) ?? false
  }

  set (section: string, key: string, value: CanonicalValue): StateRoot {
    const sec = this.#data.get(section) ?? EMPTY_SECTION
    const old = sec.get(key)
    let acc = this.#acc
    if (old !== undefined) acc = subDigest(acc, entryDigest(section, key, old))
    acc = addDigest(acc, entryDigest(section, key, value))
    return new PersistentState(
      this.#data.set(section, sec.set(key, value)),
      acc,
      this.#dirty.add(section + SEP + key),
      old === undefined ? this.size + 1 : this.size
    )
  }

  delete (section: string, key: string): StateRoot {
    const sec = this.#data.get(section)
    const old = sec?.get(key)
    if (sec === undefined || old === undefined) return this
    const next = sec.delete(key)
    return new PersistentState(
      next.size === 0 ? this.#data.delete(section) : this.#data.set(section, next),
      subDigest(this.#acc, entryDigest(section, key, old)),
      this.#dirty.add(section + SEP + key),
      this.size - 1
    )
  }

  apply (changes: Iterable<StateChange>): StateRoot {
    let acc = this.#acc
    let size = this.size
    const dirty = this.#dirty.asMutable()
    const data = this.#data.withMutations(outer => {
      const touched = new Map<string, IMap<string, CanonicalValue>>()
      for (const change of changes) {
        const [section, key] = change
        let sec = touched.get(section)
        if (sec === undefined) {
          sec = (outer.get(section) ?? EMPTY_SECTION).asMutable()
          touched.set(section, sec)
        }
        const old = sec.get(key)
        if (old !== undefined) { acc = subDigest(acc, entryDigest(section, key, old)); size-- }
        if (change.length === 3) {
          sec.set(key, change[2])
          acc = addDigest(acc, entryDigest(section, key, change[2]))
          size++
        } else {
          sec.delete(key)
        }
        dirty.add(section + SEP + key)
      }
      for (const [section, sec] of touched) {
        const done = sec.asImmutable()
        if (done.size === 0) outer.delete(section)
        else outer.set(section, done)
      }
    })
    return new PersistentState(data, acc, dirty.asImmutable(), size)
  }

  section (section: string): IMap<string, CanonicalValue> {
    return this.#data.get(section) ?? EMPTY_SECTION
  }

  sections (): string[] {
    return [...this.#data.keys()].sort()
  }

  hash (): string {
    return formatDigest(this.#acc)
  }

  get dirtyCount (): number { return this.#dirty.size }

  dirtyChanges (): StateChange[] {
    const keys = [...this.#dirty].sort()
    const out: StateChange[] = []
    for (const composite of keys) {
      const at = composite.indexOf(SEP)
      const section = composite.slice(0, at)
      const key = composite.slice(at + 1)
      const value = this.get(section, key)
      out.push(value === undefined ? [section, key] : [section, key, value])
    }
    return out
  }

  clearDirty (): StateRoot {
    if (this.#dirty.size === 0) return this
    return new PersistentState(this.#data, this.#acc, ISet(), this.size)
  }

  entries (): Array<[string, string, CanonicalValue]> {
    const out: Array<[string, string, CanonicalValue]> = []
    for (const section of this.sections()) {
      const sec = this.section(section)
      for (const key of [...sec.keys()].sort()) out.push([section, key, sec.get(key) as CanonicalValue])
    }
    return out
  }
}

/** An empty state root. */
export function createState (): StateRoot {
  return new PersistentState(IMap(), 0n, ISet(), 0)
}

/** Sorted delta turning `from` into `to` (entries that differ), comparing canonical values. */
export function diffStates (from: StateRoot, to: StateRoot, equal: (a: CanonicalValue, b: CanonicalValue) => boolean): Array<{ section: string, key: string, before?: CanonicalValue, after?: CanonicalValue }> {
  const out: Array<{ section: string, key: string, before?: CanonicalValue, after?: CanonicalValue }> = []
  const sections = [...new Set([...from.sections(), ...to.sections()])].sort()
  for (const section of sections) {
    const a = from.section(section)
    const b = to.section(section)
    if (a === b) continue
    const keys = [...new Set([...a.keys(), ...b.keys()])].sort()
    for (const key of keys) {
      const before = a.get(key)
      const after = b.get(key)
      if (before === after) continue
      if (before !== undefined && after !== undefined && equal(before, after)) continue
      const change: { section: string, key: string, before?: CanonicalValue, after?: CanonicalValue } = { section, key }
      if (before !== undefined) change.before = before
      if (after !== undefined) change.after = after
      out.push(change)
    }
  }
  return out
}
