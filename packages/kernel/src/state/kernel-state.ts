import type { CanonicalValue } from '@os2/crypto'
import { PersistentMap } from './persistent-map.ts'
import type { TransientMap } from './persistent-map.ts'
import { SectionTable } from './section-table.ts'
import type { Section } from './section-table.ts'
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
  section(section: string): PersistentMap<CanonicalValue>
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

const EMPTY_SECTION: Section = PersistentMap.empty()
/** Marks an entry that did not exist before a change. */
const ABSENT: unique symbol = Symbol('absent')
type Before = CanonicalValue | typeof ABSENT

/**
 * One change since the last `clearDirty()`, newest first: a persistent list
 * that roots share, so recording a change is one small allocation instead of
 * a hash-trie update. `before` is the entry's value before the change.
 */
interface Change {
  readonly section: string
  readonly key: string
  readonly before: Before
  readonly next: Change | undefined
}

/** The state hash at a known point of the change list: `acc` is the hash once every change from `log` on is applied. */
interface HashBase {
  readonly log: Change | undefined
  readonly acc: bigint
}

/**
 * The state hash is kept lazily. A root knows the hash at an older point of
 * its change list (its hash base) and folds in the changes since then only
 * when `hash()` is asked, once (memoised). Entries written and overwritten,
 * or queued and dequeued, between two hashes are never encoded at all, and a
 * replay that takes no snapshot hashes no state. Roots derived from a hashed
 * root take it as their base. The change list (also the dirty set) is
 * compacted to one cell per entry whenever it grows fourfold, so it stays O(entries
 * changed since the last snapshot).
 */
class PersistentState implements StateRoot {
  readonly #data: SectionTable
  readonly #log: Change | undefined
  /** Cells in #log, and the length after the last compaction (compaction runs when it grows fourfold, from 256 cells). */
  readonly #logLength: number
  readonly #compacted: number
  readonly #base: HashBase
  #acc: bigint | undefined
  #hex: string | undefined
  #dirtyCount: number | undefined
  readonly size: number

  constructor (data: SectionTable, log: Change | undefined, logLength: number, compacted: number, base: HashBase, size: number) {
    this.#data = data
    this.#log = log
    this.#logLength = logLength
    this.#compacted = compacted
    this.#base = base
    this.#acc = base.log === log ? base.acc : undefined
    this.size = size
  }

  get (section: string, key: string): CanonicalValue | undefined {
    return this.#data.get(section)?.get(key)
  }

  has (section: string, key: string): boolean {
    return this.#data.get(section)?.has(key) ?? false
  }

  /** A root with `data` and one more change recorded. */
  #derive (data: SectionTable, section: string, key: string, old: CanonicalValue | undefined, size: number): PersistentState {
    let log = this.#log
    let length = this.#logLength
    let compacted = this.#compacted
    let base: HashBase = this.#acc !== undefined ? { log, acc: this.#acc } : this.#base
    if (length >= 256 && length >= 4 * compacted) {
      // Compaction replaces the cells a base may point into: a base in the middle of the list moves to this root.
      const acc = base.log === undefined ? undefined : this.#accumulator()
      log = undefined
      let distinct = 0
      for (const [sec, keys] of this.#oldestBefore(undefined)) {
        for (const [k, before] of keys) { log = { section: sec, key: k, before, next: log }; distinct++ }
      }
      length = compacted = distinct
      if (acc !== undefined) base = { log, acc }
    }
    return new PersistentState(data, { section, key, before: old === undefined ? ABSENT : old, next: log }, length + 1, compacted, base, size)
  }

  set (section: string, key: string, value: CanonicalValue): StateRoot {
    const sec = this.#data.get(section) ?? EMPTY_SECTION
    const old = sec.get(key)
    return this.#derive(this.#data.set(section, sec.set(key, value)), section, key, old, old === undefined ? this.size + 1 : this.size)
  }

  delete (section: string, key: string): StateRoot {
    const sec = this.#data.get(section)
    const old = sec?.get(key)
    if (sec === undefined || old === undefined) return this
    return this.#derive(this.#data.set(section, sec.delete(key)), section, key, old, this.size - 1)
  }

  apply (changes: Iterable<StateChange>): StateRoot {
    // A batch (building or restoring a big state) is hashed as it goes: its result is checked at once anyway.
    let acc = this.#accumulator()
    let size = this.size
    let log = this.#log
    let length = this.#logLength
    // Each touched section is written through one transient, then put in place once.
    const touched = new Map<string, TransientMap<CanonicalValue>>()
    for (const change of changes) {
      const [section, key] = change
      let sec = touched.get(section)
      if (sec === undefined) {
        sec = this.section(section).asTransient()
        touched.set(section, sec)
      }
      const old = sec.get(key)
      if (old !== undefined) { acc = subDigest(acc, entryDigest(section, key, old)); size-- }
      if (change.length === 3) {
        sec.set(key, change[2])
        acc = addDigest(acc, entryDigest(section, key, change[2]))
        size++
      } else if (old !== undefined) {
        sec.delete(key)
      }
      log = { section, key, before: old === undefined ? ABSENT : old, next: log }
      length++
    }
    let data = this.#data
    for (const [section, sec] of touched) data = data.set(section, sec.persistent())
    return new PersistentState(data, log, length, this.#compacted, { log, acc }, size)
  }

  /** For every entry changed after `stop` (a cell of the log, or undefined for all), by section and key, its value just before the first such change. */
  #oldestBefore (stop: Change | undefined): Map<string, Map<string, Before>> {
    const out = new Map<string, Map<string, Before>>()
    let last: Map<string, Before> | undefined
    let lastSection: string | undefined
    for (let c = this.#log; c !== stop && c !== undefined; c = c.next) {
      if (c.section !== lastSection) {
        lastSection = c.section
        last = out.get(c.section)
        if (last === undefined) { last = new Map(); out.set(c.section, last) }
      }
      (last as Map<string, Before>).set(c.key, c.before)
    }
    return out
  }

  /** The hash accumulator, folding in the changes since the hash base (once per root). */
  #accumulator (): bigint {
    if (this.#acc !== undefined) return this.#acc
    const base = this.#base
    let acc = base.acc
    for (const [section, keys] of this.#oldestBefore(base.log)) {
      const sec = this.#data.get(section)
      for (const [key, before] of keys) {
        const now = sec?.get(key)
        if (now === before) continue
        if (before !== ABSENT) acc = subDigest(acc, entryDigest(section, key, before))
        if (now !== undefined) acc = addDigest(acc, entryDigest(section, key, now))
      }
    }
    this.#acc = acc
    return acc
  }

  section (section: string): Section {
    return this.#data.get(section) ?? EMPTY_SECTION
  }

  sections (): string[] {
    return this.#data.names().sort()
  }

  hash (): string {
    this.#hex ??= formatDigest(this.#accumulator())
    return this.#hex
  }

  get dirtyCount (): number {
    if (this.#dirtyCount === undefined) {
      let n = 0
      for (const keys of this.#oldestBefore(undefined).values()) n += keys.size
      this.#dirtyCount = n
    }
    return this.#dirtyCount
  }

  dirtyChanges (): StateChange[] {
    // Sorted by section, then key: the order of `section + NUL + key` (no section holds a NUL).
    const changed = this.#oldestBefore(undefined)
    const out: StateChange[] = []
    for (const section of [...changed.keys()].sort()) {
      const sec = this.#data.get(section)
      for (const key of [...(changed.get(section) as Map<string, Before>).keys()].sort()) {
        const value = sec?.get(key)
        out.push(value === undefined ? [section, key] : [section, key, value])
      }
    }
    return out
  }

  clearDirty (): StateRoot {
    if (this.#log === undefined) return this
    return new PersistentState(this.#data, undefined, 0, 0, { log: undefined, acc: this.#accumulator() }, this.size)
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
  return new PersistentState(SectionTable.EMPTY, undefined, 0, 0, { log: undefined, acc: 0n }, 0)
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
