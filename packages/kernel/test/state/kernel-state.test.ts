import { describe, expect, it } from 'vitest'
import { canonicalize } from '@os2/crypto'
import { createState, diffStates } from '../../src/index.ts'
import type { StateRoot } from '../../src/index.ts'
import { createSeededRng } from '../../src/rng.ts'

function rebuild (root: StateRoot): StateRoot {
  return createState().apply(root.entries().map(([s, k, v]) => [s, k, v] as const))
}

describe('createState()', () => {
  it('`set()` returns a new root and leaves the old one untouched', () => {
    const a = createState().set('kv/n', 'k', 1)
    const b = a.set('kv/n', 'k', 2)
    expect(a.get('kv/n', 'k')).toBe(1)
    expect(b.get('kv/n', 'k')).toBe(2)
    expect(a.hash()).not.toBe(b.hash())
  })

  it('`hash()` is incremental: equal to the hash of the same entries inserted in any order', () => {
    const rng = createSeededRng(3)
    let root = createState()
    for (let i = 0; i < 500; i++) {
      const key = `k${rng.nextUint32() % 50}`
      root = rng.nextUint32() % 4 === 0 ? root.delete('kv/n', key) : root.set('kv/n', key, { i })
    }
    const fresh = rebuild(root)
    expect(fresh.hash()).toBe(root.hash())
    const reversed = createState().apply(root.entries().reverse().map(([s, k, v]) => [s, k, v] as const))
    expect(reversed.hash()).toBe(root.hash())
    expect(root.size).toBe(root.entries().length)
  })

  it('`hash()` returns to the empty hash when every entry is deleted', () => {
    const empty = createState().hash()
    const root = createState().set('a', 'x', 1).set('b', 'y', [1, 2]).delete('a', 'x').delete('b', 'y')
    expect(root.hash()).toBe(empty)
    expect(root.sections()).toEqual([])
  })

  it('`dirtyChanges()` lists entries changed since `clearDirty()`, sorted, with deletions', () => {
    const base = createState().set('kv/n', 'a', 1).set('kv/n', 'b', 2).clearDirty()
    const next = base.set('kv/n', 'c', 3).delete('kv/n', 'a').set('grant', 'g', { id: 'g' })
    expect(next.dirtyChanges()).toEqual([['grant', 'g', { id: 'g' }], ['kv/n', 'a'], ['kv/n', 'c', 3]])
    expect(base.apply(next.dirtyChanges()).hash()).toBe(next.hash())
  })

  it('`diffStates()` reports sorted before/after values', () => {
    const a = createState().set('kv/n', 'a', 1).set('kv/n', 'b', 2)
    const b = a.set('kv/n', 'b', 3).delete('kv/n', 'a').set('kv/m', 'z', true)
    const diff = diffStates(a, b, (x, y) => canonicalize(x) === canonicalize(y))
    expect(diff).toEqual([
      { section: 'kv/m', key: 'z', after: true },
      { section: 'kv/n', key: 'a', before: 1 },
      { section: 'kv/n', key: 'b', before: 2, after: 3 }
    ])
  })
})
