import { hash as oneShotHash } from 'node:crypto'
import { CryptoError } from './errors.ts'

/**
 * RFC 6962 / RFC 9162 Merkle tree (section 2.1): leaf hash = SHA-256(0x00 || leaf),
 * node hash = SHA-256(0x01 || left || right), split at the largest power of two
 * smaller than the size. Hashes cross the API as lower-case hex.
 */
export interface MerkleTree {
  /** Number of leaves. */
  readonly size: number
  /** Appends one leaf (its data, not its hash) and returns its index. Amortised O(1) hashes. */
  append(leaf: Uint8Array): number
  /** Appends one 32-byte leaf given as 64 hex characters (e.g. an event hash); same as `append(bytes)`, without allocating. */
  appendHex(leafHex: string): number
  /** Appends a precomputed RFC 6962 leaf hash (32 bytes) and returns its index. */
  appendLeafHash(leafHash: Uint8Array): number
  /** The leaf hash at `index` (hex). */
  leafHash(index: number): string
  /** Root of the first `size` leaves (default all); SHA-256('') for an empty tree. O(log n). */
  root(size?: number): string
  /** Audit path of leaf `index` in the tree of the first `size` leaves, leaf side first. */
  inclusionProof(index: number, size?: number): string[]
  /** Proof that the tree of `oldSize` leaves is a prefix of the tree of `newSize` leaves. */
  consistencyProof(oldSize: number, newSize?: number): string[]
}

const HASH_BYTES = 32
const EMPTY_ROOT = oneShotHash('sha256', '', 'hex')

const nodeScratch = Buffer.alloc(1 + 2 * HASH_BYTES)
const leafScratch = Buffer.alloc(1 + HASH_BYTES)

function nodeHash (left: Uint8Array, right: Uint8Array): Buffer {
  nodeScratch[0] = 0x01
  nodeScratch.set(left, 1)
  nodeScratch.set(right, 1 + HASH_BYTES)
  return oneShotHash('sha256', nodeScratch, 'buffer')
}

function leafHashBytes (leaf: Uint8Array): Buffer {
  if (leaf.length === HASH_BYTES) {
    leafScratch[0] = 0x00
    leafScratch.set(leaf, 1)
    return oneShotHash('sha256', leafScratch, 'buffer')
  }
  return oneShotHash('sha256', Buffer.concat([Buffer.of(0x00), leaf]), 'buffer')
}

/**
 * The RFC 6962 leaf hash of `leaf` (hex): SHA-256(0x00 || leaf).
 *
 * @example
 * merkleLeafHash(Buffer.from(eventHash, 'hex'))
 */
export function merkleLeafHash (leaf: Uint8Array): string {
  return leafHashBytes(leaf).toString('hex')
}

/** The RFC 6962 interior node hash (hex) of two child hashes given as hex. */
export function merkleNodeHash (left: string, right: string): string {
  return nodeHash(Buffer.from(left, 'hex'), Buffer.from(right, 'hex')).toString('hex')
}

/** SHA-256 of the empty string: the root of a tree with no leaves. */
export const MERKLE_EMPTY_ROOT: string = EMPTY_ROOT

/** One level of complete subtrees, 32 bytes per node in one growable buffer. */
class Level {
  buf: Buffer = Buffer.allocUnsafe(HASH_BYTES * 64)
  count = 0

  /** The parent (hex) of nodes i-1 and i of this level. Hex output is the fastest one-shot digest form here. */
  parentOf (i: number): string {
    nodeScratch[0] = 0x01
    this.buf.copy(nodeScratch, 1, (i - 1) * HASH_BYTES, (i + 1) * HASH_BYTES)
    return oneShotHash('sha256', nodeScratch, 'hex')
  }

  #reserve (): number {
    const at = this.count * HASH_BYTES
    if (at + HASH_BYTES > this.buf.length) {
      const grown = Buffer.allocUnsafe(this.buf.length * 2)
      this.buf.copy(grown, 0, 0, at)
      this.buf = grown
    }
    this.count++
    return at
  }

  push (hash: Uint8Array): void {
    const at = this.#reserve()
    this.buf.set(hash, at)
  }

  pushHex (hash: string): void {
    const at = this.#reserve()
    this.buf.write(hash, at, HASH_BYTES, 'hex')
  }

  get (i: number): Buffer {
    return this.buf.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES)
  }
}

function largestPowerOfTwoBelow (n: number): number {
  // n >= 2; the largest power of two strictly smaller than n.
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

function isPowerOfTwo (n: number): boolean {
  return n > 0 && (n & (n - 1)) === 0
}

function log2 (n: number): number {
  return 31 - Math.clz32(n)
}

class CompactMerkleTree implements MerkleTree {
  // levels[k] holds the hash of every complete, aligned subtree of 2^k leaves.
  readonly #levels: Level[] = [new Level()]
  #size = 0
  #cachedRootSize = -1
  #cachedRoot = EMPTY_ROOT

  get size (): number { return this.#size }

  append (leaf: Uint8Array): number {
    return this.appendLeafHash(leafHashBytes(leaf))
  }

  appendHex (leafHex: string): number {
    if (leafHex.length !== 2 * HASH_BYTES || leafScratch.write(leafHex, 1, 'hex') !== HASH_BYTES) {
      throw new RangeError('Cannot append leaf: expected 64 hex characters')
    }
    leafScratch[0] = 0x00
    const index = this.#size
    ;(this.#levels[0] as Level).pushHex(oneShotHash('sha256', leafScratch, 'hex'))
    this.#completeSubtrees(index)
    return index
  }

  appendLeafHash (leafHash: Uint8Array): number {
    if (leafHash.length !== HASH_BYTES) throw new RangeError(`Cannot append leaf hash: ${leafHash.length} bytes, expected ${HASH_BYTES}`)
    const index = this.#size
    ;(this.#levels[0] as Level).push(leafHash)
    this.#completeSubtrees(index)
    return index
  }

  #completeSubtrees (index: number): void {
    const levels = this.#levels
    // Complete every subtree this leaf closes: one hash per trailing 1-bit of index.
    let i = index
    let k = 0
    while ((i & 1) === 1) {
      const level = levels[k] as Level
      let parent = levels[k + 1]
      if (parent === undefined) {
        parent = new Level()
        levels.push(parent)
      }
      parent.pushHex(level.parentOf(i))
      i >>>= 1
      k++
    }
    this.#size = index + 1
  }

  leafHash (index: number): string {
    this.#checkIndex(index, this.#size)
    return (this.#levels[0] as Level).get(index).toString('hex')
  }

  root (size: number = this.#size): string {
    this.#checkSize(size)
    if (size === 0) return EMPTY_ROOT
    if (size === this.#cachedRootSize) return this.#cachedRoot
    const root = this.#subtree(0, size).toString('hex')
    this.#cachedRootSize = size
    this.#cachedRoot = root
    return root
  }

  inclusionProof (index: number, size: number = this.#size): string[] {
    this.#checkSize(size)
    this.#checkIndex(index, size)
    const path: Buffer[] = []
    // RFC 9162 2.1.3.1, iteratively from the root down; path is emitted leaf side first.
    let start = 0
    let n = size
    let m = index
    while (n > 1) {
      const k = largestPowerOfTwoBelow(n)
      if (m < k) {
        path.push(this.#subtree(start + k, n - k))
        n = k
      } else {
        path.push(this.#subtree(start, k))
        start += k
        m -= k
        n -= k
      }
    }
    return path.reverse().map(h => h.toString('hex'))
  }

  consistencyProof (oldSize: number, newSize: number = this.#size): string[] {
    this.#checkSize(newSize)
    if (!Number.isSafeInteger(oldSize) || oldSize < 0 || oldSize > newSize) {
      throw new CryptoError('MERKLE_RANGE', `Cannot prove consistency from ${oldSize} to ${newSize}: old size must be between 0 and the new size`)
    }
    if (oldSize === 0 || oldSize === newSize) return []
    // RFC 9162 2.1.4.1 SUBPROOF(m, D[n], true), iteratively.
    const path: Buffer[] = []
    let start = 0
    let n = newSize
    let m = oldSize
    let complete = true
    while (m !== n) {
      const k = largestPowerOfTwoBelow(n)
      if (m <= k) {
        path.push(this.#subtree(start + k, n - k))
        n = k
      } else {
        path.push(this.#subtree(start, k))
        start += k
        m -= k
        n -= k
        complete = false
      }
    }
    if (!complete) path.push(this.#subtree(start, n))
    return path.reverse().map(h => h.toString('hex'))
  }

  /** MTH(D[start : start + n]); every call keeps start aligned, so power-of-two spans are stored nodes. */
  #subtree (start: number, n: number): Buffer {
    if (isPowerOfTwo(n)) {
      const k = log2(n)
      return (this.#levels[k] as Level).get(start >>> k)
    }
    const k = largestPowerOfTwoBelow(n)
    return nodeHash(this.#subtree(start, k), this.#subtree(start + k, n - k))
  }

  #checkSize (size: number): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.#size) {
      throw new CryptoError('MERKLE_RANGE', `Cannot use tree size ${size}: the tree has ${this.#size} leaves`)
    }
  }

  #checkIndex (index: number, size: number): void {
    if (!Number.isSafeInteger(index) || index < 0 || index >= size) {
      throw new CryptoError('MERKLE_RANGE', `Cannot use leaf index ${index}: the tree has ${size} leaves`)
    }
  }
}

/**
 * An empty incremental Merkle tree. It keeps every leaf hash and every complete
 * subtree, so roots and proofs for any past size cost O(log n) hashes.
 *
 * @example
 * const tree = createMerkleTree()
 * tree.append(new TextEncoder().encode('a'))
 * const proof = tree.inclusionProof(0)
 * verifyInclusion({ leafHash: tree.leafHash(0), index: 0, size: 1, path: proof, root: tree.root() }) // true
 */
export function createMerkleTree (): MerkleTree {
  return new CompactMerkleTree()
}

/** The root of a list of leaves, computed directly from RFC 6962's recursive definition. */
export function merkleRootOf (leaves: readonly Uint8Array[]): string {
  const tree = new CompactMerkleTree()
  for (const leaf of leaves) tree.append(leaf)
  return tree.root()
}

export interface InclusionCheck {
  /** RFC 6962 leaf hash (hex) of the leaf being proven. */
  leafHash: string
  index: number
  size: number
  path: readonly string[]
  root: string
}

export interface ConsistencyCheck {
  oldSize: number
  newSize: number
  oldRoot: string
  newRoot: string
  path: readonly string[]
}

const HEX_HASH = /^[0-9a-f]{64}$/

function decodeHashes (hexes: readonly string[]): Buffer[] | undefined {
  const out: Buffer[] = []
  for (const h of hexes) {
    if (typeof h !== 'string' || !HEX_HASH.test(h)) return undefined
    out.push(Buffer.from(h, 'hex'))
  }
  return out
}

function validSize (n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

/**
 * Verifies an inclusion proof (RFC 9162 2.1.3.2). Answers false, never throws, for any malformed input.
 */
export function verifyInclusion (check: InclusionCheck): boolean {
  const { index, size } = check
  if (!validSize(index) || !validSize(size) || index >= size) return false
  const path = decodeHashes(check.path)
  const leaf = decodeHashes([check.leafHash])
  if (path === undefined || leaf === undefined || !HEX_HASH.test(check.root)) return false
  let fn = index
  let sn = size - 1
  let r = leaf[0] as Buffer
  for (const p of path) {
    if (sn === 0) return false
    if ((fn & 1) === 1 || fn === sn) {
      r = nodeHash(p, r)
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 && r.toString('hex') === check.root
}

/**
 * Verifies a consistency proof (RFC 9162 2.1.4.2). An old size of 0 is
 * consistent with anything (empty proof, empty root); equal sizes need an empty
 * proof and equal roots. Answers false, never throws, for any malformed input.
 */
export function verifyConsistency (check: ConsistencyCheck): boolean {
  const { oldSize, newSize } = check
  if (!validSize(oldSize) || !validSize(newSize) || oldSize > newSize) return false
  if (!HEX_HASH.test(check.oldRoot) || !HEX_HASH.test(check.newRoot)) return false
  const decoded = decodeHashes(check.path)
  if (decoded === undefined) return false
  if (oldSize === 0) return decoded.length === 0 && check.oldRoot === EMPTY_ROOT
  if (oldSize === newSize) return decoded.length === 0 && check.oldRoot === check.newRoot
  if (decoded.length === 0) return false
  const path = isPowerOfTwo(oldSize) ? [Buffer.from(check.oldRoot, 'hex'), ...decoded] : decoded
  let fn = oldSize - 1
  let sn = newSize - 1
  while ((fn & 1) === 1) {
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  let fr = path[0] as Buffer
  let sr = path[0] as Buffer
  for (let i = 1; i < path.length; i++) {
    const c = path[i] as Buffer
    if (sn === 0) return false
    if ((fn & 1) === 1 || fn === sn) {
      fr = nodeHash(c, fr)
      sr = nodeHash(c, sr)
      if ((fn & 1) === 0) {
        while ((fn & 1) === 0 && fn !== 0) {
          fn = Math.floor(fn / 2)
          sn = Math.floor(sn / 2)
        }
      }
    } else {
      sr = nodeHash(sr, c)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return fr.toString('hex') === check.oldRoot && sr.toString('hex') === check.newRoot && sn === 0
}
