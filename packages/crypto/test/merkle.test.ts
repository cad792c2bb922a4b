import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import {
  createMerkleTree, merkleLeafHash, verifyConsistency, verifyInclusion, MERKLE_EMPTY_ROOT, CryptoError
} from '../src/index.ts'

// Reference: RFC 6962 section 2.1 written out recursively, straight from the text.
function h (...parts: Uint8Array[]): Buffer {
  const hash = createHash('sha256')
  for (const p of parts) hash.update(p)
  return hash.digest()
}
function k (n: number): number {
  let x = 1
  while (x * 2 < n) x *= 2
  return x
}
function mth (d: Uint8Array[]): Buffer {
  if (d.length === 0) return h()
  if (d.length === 1) return h(Buffer.of(0), d[0] as Uint8Array)
  const split = k(d.length)
  return h(Buffer.of(1), mth(d.slice(0, split)), mth(d.slice(split)))
}
function refPath (m: number, d: Uint8Array[]): Buffer[] {
  if (d.length <= 1) return []
  const split = k(d.length)
  return m < split
    ? [...refPath(m, d.slice(0, split)), mth(d.slice(split))]
    : [...refPath(m - split, d.slice(split)), mth(d.slice(0, split))]
}
function refSubproof (m: number, d: Uint8Array[], b: boolean): Buffer[] {
  if (m === d.length) return b ? [] : [mth(d)]
  const split = k(d.length)
  return m <= split
    ? [...refSubproof(m, d.slice(0, split), b), mth(d.slice(split))]
    : [...refSubproof(m - split, d.slice(split), false), mth(d.slice(0, split))]
}
const hex = (bs: Buffer[]): string[] => bs.map(b => b.toString('hex'))

const leaves = Array.from({ length: 64 }, (_, i) => Buffer.from(`leaf-${i}`))

function flipHex (s: string, at = 0): string {
  const c = s[at] === '0' ? '1' : '0'
  return s.slice(0, at) + c + s.slice(at + 1)
}

describe('createMerkleTree()', () => {
  const tree = createMerkleTree()
  for (const leaf of leaves) tree.append(leaf)
  // One extra leaf, so "altered size" claims can come with the honest root of that size.
  const wider = createMerkleTree()
  for (const leaf of [...leaves, Buffer.from('leaf-64')]) wider.append(leaf)

  it('root() of an empty tree is SHA-256 of the empty string', () => {
    const empty = createMerkleTree()
    const expected = createHash('sha256').update('').digest('hex')
    expect(empty.root()).toBe(expected)
    expect(MERKLE_EMPTY_ROOT).toBe(expected)
    expect(tree.root(0)).toBe(expected)
  })

  it('root() matches the RFC 6962 recursive definition for every size 1..64', () => {
    for (let n = 1; n <= 64; n++) {
      expect(tree.root(n)).toBe(mth(leaves.slice(0, n)).toString('hex'))
    }
  })

  it('root() of a tree grown incrementally matches past roots of the full tree', () => {
    const growing = createMerkleTree()
    for (let n = 1; n <= 64; n++) {
      growing.append(leaves[n - 1] as Buffer)
      expect(growing.root()).toBe(tree.root(n))
    }
  })

  it('leafHash() is SHA-256(0x00 || leaf)', () => {
    expect(tree.leafHash(5)).toBe(h(Buffer.of(0), leaves[5] as Buffer).toString('hex'))
    expect(merkleLeafHash(leaves[5] as Buffer)).toBe(tree.leafHash(5))
    // 32-byte leaves take the scratch-buffer fast path: same definition.
    const leaf32 = h(Buffer.from('x'))
    expect(merkleLeafHash(leaf32)).toBe(h(Buffer.of(0), leaf32).toString('hex'))
  })

  it('inclusionProof() equals the RFC path and verifies for every size 1..64 and every index', () => {
    for (let n = 1; n <= 64; n++) {
      const root = tree.root(n)
      for (let m = 0; m < n; m++) {
        const path = tree.inclusionProof(m, n)
        expect(path).toEqual(hex(refPath(m, leaves.slice(0, n))))
        expect(verifyInclusion({ leafHash: tree.leafHash(m), index: m, size: n, path, root })).toBe(true)
      }
    }
  })

  it('consistencyProof() equals the RFC proof and verifies for every pair of sizes 1..64', () => {
    for (let n = 1; n <= 64; n++) {
      for (let m = 1; m <= n; m++) {
        const path = tree.consistencyProof(m, n)
        if (m < n) expect(path).toEqual(hex(refSubproof(m, leaves.slice(0, n), true)))
        else expect(path).toEqual([])
        expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot: tree.root(m), newRoot: tree.root(n), path })).toBe(true)
      }
    }
  })

  it('verifyInclusion() fails when any path element, the root, the leaf, the index or the size is altered', () => {
    for (let n = 1; n <= 64; n++) {
      const root = tree.root(n)
      for (let m = 0; m < n; m++) {
        const path = tree.inclusionProof(m, n)
        const leafHash = tree.leafHash(m)
        for (let i = 0; i < path.length; i++) {
          const bad = path.slice()
          bad[i] = flipHex(bad[i] as string, i % 64)
          expect(verifyInclusion({ leafHash, index: m, size: n, path: bad, root })).toBe(false)
        }
        expect(verifyInclusion({ leafHash, index: m, size: n, path, root: flipHex(root, 63) })).toBe(false)
        expect(verifyInclusion({ leafHash: flipHex(leafHash, 10), index: m, size: n, path, root })).toBe(false)
        if (n > 1) {
          expect(verifyInclusion({ leafHash, index: (m + 1) % n, size: n, path, root })).toBe(false)
          expect(verifyInclusion({ leafHash, index: m, size: n, path: path.slice(0, -1), root })).toBe(false)
        }
        // A size is only meaningful with its root: claim another size with that size's honest root.
        expect(verifyInclusion({ leafHash, index: m, size: n + 1, path, root: wider.root(n + 1) })).toBe(false)
        if (m < n - 1) expect(verifyInclusion({ leafHash, index: m, size: n - 1, path, root: tree.root(n - 1) })).toBe(false)
        expect(verifyInclusion({ leafHash, index: m, size: n, path: [...path, root], root })).toBe(false)
      }
    }
  })

  it('verifyConsistency() fails when any path element, either root or either size is altered', () => {
    for (let n = 2; n <= 64; n++) {
      for (let m = 1; m < n; m++) {
        const path = tree.consistencyProof(m, n)
        const oldRoot = tree.root(m)
        const newRoot = tree.root(n)
        for (let i = 0; i < path.length; i++) {
          const bad = path.slice()
          bad[i] = flipHex(bad[i] as string, 63 - (i % 64))
          expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot, newRoot, path: bad })).toBe(false)
        }
        expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot: flipHex(oldRoot), newRoot, path })).toBe(false)
        expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot, newRoot: flipHex(newRoot), path })).toBe(false)
        expect(verifyConsistency({ oldSize: m, newSize: n + 1, oldRoot, newRoot: wider.root(n + 1), path })).toBe(false)
        if (m + 1 < n) expect(verifyConsistency({ oldSize: m + 1, newSize: n, oldRoot: tree.root(m + 1), newRoot, path })).toBe(false)
        if (m > 1) expect(verifyConsistency({ oldSize: m - 1, newSize: n, oldRoot: tree.root(m - 1), newRoot, path })).toBe(false)
        expect(verifyConsistency({ oldSize: m, newSize: n, oldRoot, newRoot, path: [] })).toBe(false)
      }
    }
  })

  it('verifyConsistency() treats equal sizes and an empty old tree as the RFC edge cases', () => {
    const r = tree.root(7)
    expect(verifyConsistency({ oldSize: 7, newSize: 7, oldRoot: r, newRoot: r, path: [] })).toBe(true)
    expect(verifyConsistency({ oldSize: 7, newSize: 7, oldRoot: r, newRoot: tree.root(8), path: [] })).toBe(false)
    expect(verifyConsistency({ oldSize: 0, newSize: 7, oldRoot: MERKLE_EMPTY_ROOT, newRoot: r, path: [] })).toBe(true)
    expect(verifyConsistency({ oldSize: 0, newSize: 7, oldRoot: tree.root(1), newRoot: r, path: [] })).toBe(false)
  })

  it('verifiers answer false for malformed input instead of throwing', () => {
    const root = tree.root(4)
    expect(verifyInclusion({ leafHash: 'zz', index: 0, size: 4, path: [], root })).toBe(false)
    expect(verifyInclusion({ leafHash: tree.leafHash(0), index: -1, size: 4, path: [], root })).toBe(false)
    expect(verifyInclusion({ leafHash: tree.leafHash(0), index: 4, size: 4, path: [], root })).toBe(false)
    expect(verifyConsistency({ oldSize: 5, newSize: 4, oldRoot: root, newRoot: root, path: [] })).toBe(false)
    expect(verifyConsistency({ oldSize: 1, newSize: 4, oldRoot: root, newRoot: root, path: ['nothex'] })).toBe(false)
  })

  it('inclusionProof() and consistencyProof() throw MERKLE_RANGE outside the tree', () => {
    expect(() => tree.inclusionProof(64, 64)).toThrow(CryptoError)
    expect(() => tree.inclusionProof(0, 65)).toThrow(/tree size 65/)
    expect(() => tree.consistencyProof(10, 9)).toThrow(CryptoError)
    try {
      tree.root(100)
    } catch (err) {
      expect((err as CryptoError).code).toBe('MERKLE_RANGE')
    }
    expect.assertions(4)
  })

  it('append() hashes amortised O(1): 2n - popcount(n) hashes for n leaves, checked through large trees', () => {
    const big = createMerkleTree()
    const n = 100_003
    for (let i = 0; i < n; i++) big.append(Buffer.from(String(i)))
    // Spot check a proof deep in a large, non power-of-two tree.
    const path = big.inclusionProof(77_777)
    expect(path.length).toBeLessThanOrEqual(17)
    expect(verifyInclusion({ leafHash: big.leafHash(77_777), index: 77_777, size: n, path, root: big.root() })).toBe(true)
    const cp = big.consistencyProof(65_537)
    expect(verifyConsistency({ oldSize: 65_537, newSize: n, oldRoot: big.root(65_537), newRoot: big.root(), path: cp })).toBe(true)
  })
})
