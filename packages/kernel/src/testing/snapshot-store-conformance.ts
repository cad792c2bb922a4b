import type { SnapshotStore } from '../snapshots/snapshot-store.ts'
import { buildSnapshotRecord } from '../snapshots/snapshot-record.ts'
import type { SnapshotRecord } from '../snapshots/snapshot-record.ts'
import { createState } from '../state/kernel-state.ts'

/** What a test framework must provide to run a conformance suite (vitest's `describe`/`it`/`expect` fit). */
export interface ConformanceHarness {
  describe(name: string, fn: () => void): void
  it(name: string, fn: () => Promise<void>): void
  expect: (value: unknown) => { toEqual(expected: unknown): void, toBe(expected: unknown): void, toBeUndefined(): void, toBeNull(): void }
}

function sampleRecord (id: string, parent: string | null): SnapshotRecord {
  const root = createState().set('kv/n', 'k', id).set('meta', 'x', [1, { y: true }])
  return buildSnapshotRecord(root, { id, label: `label ${id}`, parent, stateHash: root.hash(), eventSeq: 4, timestamp: 9, ledgerSeq: 5, ledgerHead: 'f'.repeat(64) })
}

/**
 * The behaviour every `SnapshotStore` must have (libp2p interface-compliance
 * style): run it against each implementation with its own setup and teardown.
 *
 * @example
 * snapshotStoreConformance({ describe, it, expect }, { name: 'memory', setup: async () => createMemorySnapshotStore() })
 */
export function snapshotStoreConformance (t: ConformanceHarness, impl: { name: string, setup: () => Promise<SnapshotStore>, teardown?: () => Promise<void> }): void {
  t.describe(`SnapshotStore conformance: ${impl.name}`, () => {
    const withStore = (fn: (store: SnapshotStore) => Promise<void>) => async () => {
      const store = await impl.setup()
      try { await fn(store) } finally { await impl.teardown?.() }
    }
    t.it('`get()` returns what `put()` stored, and undefined for unknown ids', withStore(async store => {
      const a = sampleRecord('snap-1-aaaa', null)
      await store.put(a)
      t.expect(await store.get('snap-1-aaaa')).toEqual(a)
      t.expect(await store.get('snap-9-zzzz')).toBeUndefined()
      t.expect(await store.has('snap-1-aaaa')).toBe(true)
      t.expect(await store.has('snap-9-zzzz')).toBe(false)
    }))
    t.it('`list()` returns ids sorted, `put()` of the same id replaces', withStore(async store => {
      await store.put(sampleRecord('snap-2-bbbb', 'snap-1-aaaa'))
      await store.put(sampleRecord('snap-1-aaaa', null))
      await store.put(sampleRecord('snap-1-aaaa', null))
      t.expect(await store.list()).toEqual(['snap-1-aaaa', 'snap-2-bbbb'])
    }))
    t.it('`setReady()` sets the one ready snapshot, `ready()` reads it', withStore(async store => {
      t.expect(await store.ready()).toBeNull()
      await store.put(sampleRecord('snap-1-aaaa', null))
      await store.put(sampleRecord('snap-2-bbbb', null))
      await store.setReady('snap-1-aaaa')
      await store.setReady('snap-2-bbbb')
      t.expect(await store.ready()).toBe('snap-2-bbbb')
      t.expect(await store.list()).toEqual(['snap-1-aaaa', 'snap-2-bbbb'])
    }))
    t.it('a returned record is a copy: editing it does not change the store', withStore(async store => {
      await store.put(sampleRecord('snap-1-aaaa', null))
      const got = await store.get('snap-1-aaaa')
      if (got !== undefined) got.label = 'edited'
      t.expect((await store.get('snap-1-aaaa'))?.label).toBe('label snap-1-aaaa')
    }))
  })
}
