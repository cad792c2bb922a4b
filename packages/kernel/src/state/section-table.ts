import type { CanonicalValue } from '@os2/crypto'
import { PersistentMap } from './persistent-map.ts'

export type Section = PersistentMap<CanonicalValue>

/**
 * Sections the kernel writes for every token (and grants and snapshots,
 * read for every token). They get fixed slots in the table.
 */
const FIXED = ['token', 'token-spec', 'queue', 'usage', 'meta', 'bucket', 'grant', 'snapshot'] as const
const FIXED_SLOT = new Map<string, number>(FIXED.map((name, i) => [name, i]))
const NO_FIXED: readonly Section[] = FIXED.map(() => PersistentMap.empty<CanonicalValue>())

/**
 * The outer level of kernel state, section name → section (an immutable
 * value, like the sections). A section of `FIXED` is found by one native
 * `Map` lookup and replaced by copying eight pointers, where the trie hashed
 * the name and copied a node of every section on each write (about a quarter
 * of the bytes a state write allocated). `kv/<namespace>` and any other
 * section live in a `PersistentMap`. An empty section is absent.
 */
export class SectionTable {
  static readonly EMPTY = new SectionTable(NO_FIXED, PersistentMap.empty())

  readonly #fixed: readonly Section[]
  readonly #rest: PersistentMap<Section>

  private constructor (fixed: readonly Section[], rest: PersistentMap<Section>) {
    this.#fixed = fixed
    this.#rest = rest
  }

  /** The section, or undefined when it has no entries. */
  get (name: string): Section | undefined {
    const slot = FIXED_SLOT.get(name)
    if (slot === undefined) return this.#rest.get(name)
    const sec = this.#fixed[slot] as Section
    return sec.size === 0 ? undefined : sec
  }

  /** This table with `name` holding `section` (absent when `section` is empty). */
  set (name: string, section: Section): SectionTable {
    const slot = FIXED_SLOT.get(name)
    if (slot === undefined) {
      const rest = section.size === 0 ? this.#rest.delete(name) : this.#rest.set(name, section)
      return rest === this.#rest ? this : new SectionTable(this.#fixed, rest)
    }
    if (this.#fixed[slot] === section) return this
    const fixed = this.#fixed.slice()
    fixed[slot] = section
    return new SectionTable(fixed, this.#rest)
  }

  /** Names of the sections with entries, unsorted. */
  names (): string[] {
    const out = this.#rest.keys()
    for (let i = 0; i < FIXED.length; i++) if ((this.#fixed[i] as Section).size > 0) out.push(FIXED[i] as string)
    return out
  }
}
