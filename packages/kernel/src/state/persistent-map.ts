/**
 * A persistent (immutable, structurally shared) map from strings to values:
 * a CHAMP trie (Steindorfer & Vinju, "Optimizing Hash-Array Mapped Tries for
 * Fast and Lean Immutable JVM Collections", OOPSLA 2015).
 *
 * Why not `immutable`'s Map: kernel state is written about seven times per
 * token, and a `Map.set` there on a 10k-entry section cost ~1.5-2 µs and most
 * of the bytes a replay allocated (a wrapper object, two change refs and a
 * generic hash per write). This trie knows its keys are strings, keeps
 * entries inline in the node arrays (no leaf objects), and a write allocates
 * only the copied path plus the new root.
 *
 * Each node has two 32-bit maps over the 5-bit hash fragment of its level:
 * `dataMap` marks fragments holding one inline entry, `nodeMap` fragments
 * holding a child node. `slots` is `[k0, v0, k1, v1, …, child0, child1, …]`,
 * both in fragment order. A deletion that leaves a child with one entry and no
 * children pulls that entry up, so the shape depends only on the contents
 * (CHAMP's canonical form). Keys whose 32-bit hashes are equal share a
 * collision node below the last level (a list sorted by key, searched
 * linearly, as in every HAMT).
 *
 * Iteration order follows the hash, so it depends only on the contents and
 * is the same in every process; still, nothing observable relies on it
 * (everything the kernel records or prints sorts keys).
 */

/** The trie's 32-bit hash of a key (exported for tests that need colliding keys): FNV-1a over UTF-16 code units, finished with MurmurHash3's avalanche so low fragments are well mixed. */
export function hashKey (key: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

function bitCount (n: number): number {
  n = n - ((n >>> 1) & 0x55555555)
  n = (n & 0x33333333) + ((n >>> 2) & 0x33333333)
  return (((n + (n >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24
}

const BITS = 5
/** Levels of 5 bits cover the 32-bit hash by shift 30; below that only equal hashes remain. */
const MAX_SHIFT = 30

/** An edit in progress (a transient): nodes it created may be changed in place until it ends. */
interface Owner { done: boolean }

/**
 * One trie node. Below the last level (shift > MAX_SHIFT) a node is a
 * collision node instead: its maps are unused and `slots` holds entries whose
 * keys' hashes are all equal, sorted by key. One class for both keeps every
 * property access monomorphic.
 */
class Node {
  constructor (
    public dataMap: number,
    public nodeMap: number,
    public slots: unknown[],
    public owner: Owner | undefined
  ) {}
}

/** What the last `put`/`remove` did to the size; module state instead of a result object keeps writes allocation-free. */
let sizeChange = 0

function editable (node: Node, owner: Owner | undefined): boolean {
  return owner !== undefined && node.owner === owner
}

/** A node holding two entries that differ below `shift`. */
function pair (shift: number, h1: number, k1: string, v1: unknown, h2: number, k2: string, v2: unknown, owner: Owner | undefined): Node {
  if (shift > MAX_SHIFT) return new Node(0, 0, k1 < k2 ? [k1, v1, k2, v2] : [k2, v2, k1, v1], owner)
  const f1 = (h1 >>> shift) & 31
  const f2 = (h2 >>> shift) & 31
  if (f1 === f2) return new Node(0, 1 << f1, [pair(shift + BITS, h1, k1, v1, h2, k2, v2, owner)], owner)
  return f1 < f2
    ? new Node((1 << f1) | (1 << f2), 0, [k1, v1, k2, v2], owner)
    : new Node((1 << f1) | (1 << f2), 0, [k2, v2, k1, v1], owner)
}

function put (node: Node, shift: number, hash: number, key: string, value: unknown, owner: Owner | undefined): Node {
  if (shift > MAX_SHIFT) return putCollision(node, key, value, owner)
  const bit = 1 << ((hash >>> shift) & 31)
  const slots = node.slots
  if ((node.dataMap & bit) !== 0) {
    const at = 2 * bitCount(node.dataMap & (bit - 1))
    const k = slots[at] as string
    if (k === key) {
      if (slots[at + 1] === value) return node
      if (editable(node, owner)) { slots[at + 1] = value; return node }
      const copy = slots.slice()
      copy[at + 1] = value
      return new Node(node.dataMap, node.nodeMap, copy, owner)
    }
    // Two entries on one fragment: they move down into a new child.
    sizeChange = 1
    const child = pair(shift + BITS, hashKey(k), k, slots[at + 1], hash, key, value, owner)
    const dataLen = 2 * bitCount(node.dataMap)
    const childAt = dataLen - 2 + bitCount(node.nodeMap & (bit - 1))
    const copy = new Array<unknown>(slots.length - 1)
    for (let i = 0; i < at; i++) copy[i] = slots[i]
    for (let i = at + 2; i < dataLen; i++) copy[i - 2] = slots[i]
    for (let i = dataLen, j = dataLen - 2; i < slots.length; i++, j++) {
      if (j === childAt) j++
      copy[j] = slots[i]
    }
    copy[childAt] = child
    return new Node(node.dataMap ^ bit, node.nodeMap | bit, copy, owner)
  }
  if ((node.nodeMap & bit) !== 0) {
    const at = 2 * bitCount(node.dataMap) + bitCount(node.nodeMap & (bit - 1))
    const child = slots[at] as Node
    const next = put(child, shift + BITS, hash, key, value, owner)
    if (next === child) return node
    if (editable(node, owner)) { slots[at] = next; return node }
    const copy = slots.slice()
    copy[at] = next
    return new Node(node.dataMap, node.nodeMap, copy, owner)
  }
  sizeChange = 1
  const at = 2 * bitCount(node.dataMap & (bit - 1))
  if (editable(node, owner)) {
    slots.splice(at, 0, key, value)
    node.dataMap |= bit
    return node
  }
  const copy = new Array<unknown>(slots.length + 2)
  for (let i = 0; i < at; i++) copy[i] = slots[i]
  copy[at] = key
  copy[at + 1] = value
  for (let i = at; i < slots.length; i++) copy[i + 2] = slots[i]
  return new Node(node.dataMap | bit, node.nodeMap, copy, owner)
}

function putCollision (node: Node, key: string, value: unknown, owner: Owner | undefined): Node {
  const slots = node.slots
  let at = 0
  // Kept sorted by key, so the order of iteration depends on the contents only, never on history.
  while (at < slots.length && (slots[at] as string) < key) at += 2
  const copy = slots.slice()
  if (slots[at] === key) {
    if (slots[at + 1] === value) return node
    copy[at + 1] = value
  } else {
    sizeChange = 1
    copy.splice(at, 0, key, value)
  }
  return new Node(0, 0, copy, owner)
}

function remove (node: Node, shift: number, hash: number, key: string, owner: Owner | undefined): Node {
  if (shift > MAX_SHIFT) {
    // A collision node; left with one entry, it is inlined by its parent below.
    const at = collisionIndex(node.slots, key)
    if (at < 0) return node
    sizeChange = -1
    const copy = node.slots.slice()
    copy.splice(at, 2)
    return new Node(0, 0, copy, owner)
  }
  const bit = 1 << ((hash >>> shift) & 31)
  const slots = node.slots
  if ((node.dataMap & bit) !== 0) {
    const at = 2 * bitCount(node.dataMap & (bit - 1))
    if (slots[at] !== key) return node
    sizeChange = -1
    const copy = slots.slice()
    copy.splice(at, 2)
    return new Node(node.dataMap ^ bit, node.nodeMap, copy, owner)
  }
  if ((node.nodeMap & bit) === 0) return node
  const at = 2 * bitCount(node.dataMap) + bitCount(node.nodeMap & (bit - 1))
  const child = slots[at] as Node
  const next = remove(child, shift + BITS, hash, key, owner)
  if (next === child) return node
  if (next.nodeMap === 0 && next.slots.length === 2) {
    // The child is down to one entry: inline it here (canonical form).
    const dataAt = 2 * bitCount(node.dataMap & (bit - 1))
    const copy = slots.slice()
    copy.splice(at, 1)
    copy.splice(dataAt, 0, next.slots[0], next.slots[1])
    return new Node(node.dataMap | bit, node.nodeMap ^ bit, copy, owner)
  }
  if (editable(node, owner)) { slots[at] = next; return node }
  const copy = slots.slice()
  copy[at] = next
  return new Node(node.dataMap, node.nodeMap, copy, owner)
}

/** Where `key` is in a collision node's slots, or -1 (keys only: a value may equal a key). */
function collisionIndex (slots: unknown[], key: string): number {
  for (let i = 0; i < slots.length; i += 2) if (slots[i] === key) return i
  return -1
}

/** Calls `visit` on every entry under `node` (at `shift`), data before children. */
function forEachEntry (node: Node, shift: number, visit: (key: string, value: unknown) => void): void {
  const slots = node.slots
  const dataLen = shift > MAX_SHIFT ? slots.length : 2 * bitCount(node.dataMap)
  for (let i = 0; i < dataLen; i += 2) visit(slots[i] as string, slots[i + 1])
  for (let i = dataLen; i < slots.length; i++) forEachEntry(slots[i] as Node, shift + BITS, visit)
}

/** The value under `key` in the trie at `root`, or undefined. */
function lookup (root: Node, key: string): unknown {
  const hash = hashKey(key)
  let node = root
  for (let shift = 0; shift <= MAX_SHIFT; shift += BITS) {
    const bit = 1 << ((hash >>> shift) & 31)
    const map = node.dataMap
    if ((map & bit) !== 0) {
      const at = 2 * bitCount(map & (bit - 1))
      return node.slots[at] === key ? node.slots[at + 1] : undefined
    }
    if ((node.nodeMap & bit) === 0) return undefined
    node = node.slots[2 * bitCount(map) + bitCount(node.nodeMap & (bit - 1))] as Node
  }
  const at = collisionIndex(node.slots, key)
  return at < 0 ? undefined : node.slots[at + 1]
}

/** Wraps a finished root in a map: the private constructor, for `TransientMap.persistent()`. */
let wrap: <V>(root: Node, size: number) => PersistentMap<V>

/** An immutable string-keyed map; every write returns a new map and leaves this one as it was. */
export class PersistentMap<V> {
  readonly #root: Node
  readonly size: number

  static readonly #EMPTY = new PersistentMap<unknown>(new Node(0, 0, [], undefined), 0)

  private constructor (root: Node, size: number) {
    this.#root = root
    this.size = size
  }

  /** The empty map (one shared instance). Values must not be `undefined`: `get` uses it for "absent". */
  static empty<V> (): PersistentMap<V> { return PersistentMap.#EMPTY as PersistentMap<V> }

  get (key: string): V | undefined {
    return lookup(this.#root, key) as V | undefined
  }

  has (key: string): boolean {
    return this.get(key) !== undefined
  }

  /** This map with `key` set to `value` (this map itself when it already holds that exact value). */
  set (key: string, value: V): PersistentMap<V> {
    sizeChange = 0
    const root = put(this.#root, 0, hashKey(key), key, value, undefined)
    return root === this.#root ? this : new PersistentMap(root, this.size + sizeChange)
  }

  /** This map without `key` (this map itself when it has no such key). */
  delete (key: string): PersistentMap<V> {
    sizeChange = 0
    const root = remove(this.#root, 0, hashKey(key), key, undefined)
    if (root === this.#root) return this
    return this.size === 1 ? PersistentMap.empty() : new PersistentMap(root, this.size - 1)
  }

  /**
   * A writable copy for many writes at once (building or restoring a big
   * map): nodes it created are changed in place instead of copied again, so
   * it costs about what a mutable map would. This map is left untouched.
   */
  asTransient (): TransientMap<V> {
    return new TransientMap(this.#root, this.size)
  }

  static {
    wrap = <V>(root: Node, size: number): PersistentMap<V> => size === 0 ? PersistentMap.empty<V>() : new PersistentMap<V>(root, size)
  }

  /** The keys, in the trie's order (an array: iteration is rare and mostly sorts anyway). */
  keys (): string[] {
    const out: string[] = []
    forEachEntry(this.#root, 0, key => { out.push(key) })
    return out
  }

  /** The entries, in the trie's order. */
  entries (): Array<[string, V]> {
    const out: Array<[string, V]> = []
    forEachEntry(this.#root, 0, (key, value) => { out.push([key, value as V]) })
    return out
  }

  [Symbol.iterator] (): IterableIterator<[string, V]> {
    return this.entries()[Symbol.iterator]()
  }
}

/** A map under construction (see `PersistentMap.asTransient`); once `persistent()` is called it refuses further writes. */
export class TransientMap<V> {
  readonly #owner: Owner = { done: false }
  #root: Node
  #size: number

  /** Use `PersistentMap.asTransient()`. */
  constructor (root: unknown, size: number) {
    this.#root = root as Node
    this.#size = size
  }

  get size (): number { return this.#size }

  get (key: string): V | undefined {
    return lookup(this.#root, key) as V | undefined
  }

  set (key: string, value: V): void {
    this.#check()
    sizeChange = 0
    this.#root = put(this.#root, 0, hashKey(key), key, value, this.#owner)
    this.#size += sizeChange
  }

  delete (key: string): void {
    this.#check()
    sizeChange = 0
    this.#root = remove(this.#root, 0, hashKey(key), key, this.#owner)
    this.#size += sizeChange
  }

  /** Ends the edit: the result shares this transient's nodes, so it can never be written again. */
  persistent (): PersistentMap<V> {
    this.#check()
    this.#owner.done = true
    return wrap<V>(this.#root, this.#size)
  }

  #check (): void {
    if (this.#owner.done) throw new Error('PersistentMap transient used after it ended')
  }
}
