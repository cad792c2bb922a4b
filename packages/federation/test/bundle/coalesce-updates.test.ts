import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { coalesceUpdates, encodeLocalRun } from '../../src/bundle/coalesce-updates.ts'
import { analyzeUpdate } from '../../src/policy/analyze-update.ts'
import type { DeleteSet, LocalRun } from '../../src/bundle/coalesce-updates.ts'
import type { MemoryKind } from '../../src/memory/memory-ref.ts'

function prng (seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A document that records each local transaction's update and delete set. */
function recorded (): { doc: Y.Doc, txns: Array<{ update: Uint8Array, deletes: DeleteSet }> } {
  const doc = new Y.Doc({ gc: true })
  const txns: Array<{ update: Uint8Array, deletes: DeleteSet }> = []
  doc.on('update', (update: Uint8Array, origin: unknown, _d: Y.Doc, tr: Y.Transaction) => { if (origin === 'local') txns.push({ update, deletes: tr.deleteSet }) })
  return { doc, txns }
}

const snapshotOf = (doc: Y.Doc): unknown => ({ kv: doc.getMap('kv').toJSON(), events: doc.getArray('events').toJSON(), text: doc.getText('text').toString() })

function scenario (seed: number, kind: MemoryKind): void {
  const rng = prng(seed)
  const keys = ['a', 'b', 'c', 'd']
  const origin = recorded()
  const peer = new Y.Doc()
  const receiver = new Y.Doc()
  const op = (doc: Y.Doc): void => {
    if (kind === 'kv') {
      if (rng() < 0.7) doc.getMap('kv').set(keys[Math.floor(rng() * keys.length)] as string, Math.floor(rng() * 100))
      else doc.getMap('kv').delete(keys[Math.floor(rng() * keys.length)] as string)
    } else if (kind === 'episodic') {
      doc.getArray('events').push([{ n: Math.floor(rng() * 100) }])
    } else {
      const text = doc.getText('text')
      if (rng() < 0.7 || text.length === 0) text.insert(Math.floor(rng() * (text.length + 1)), 'xy')
      else text.delete(Math.floor(rng() * text.length), 1)
    }
  }
  // History both sides already share, including the peer's changes.
  for (let i = 0; i < 20; i++) origin.doc.transact(() => { op(origin.doc) }, 'local')
  for (let i = 0; i < 10; i++) op(peer)
  Y.applyUpdate(origin.doc, Y.encodeStateAsUpdate(peer))
  Y.applyUpdate(receiver, Y.encodeStateAsUpdate(origin.doc))
  // The run: local transactions, with remote changes applied in between.
  const run: LocalRun = { client: origin.doc.clientID, fromClock: Y.getState(origin.doc.store, origin.doc.clientID), deletes: [] }
  const from = origin.txns.length
  for (let i = 0; i < 60; i++) {
    if (rng() < 0.15) {
      op(peer)
      Y.applyUpdate(origin.doc, Y.encodeStateAsUpdate(peer, Y.encodeStateVector(origin.doc)))
      Y.applyUpdate(receiver, Y.encodeStateAsUpdate(peer, Y.encodeStateVector(receiver)))
    }
    origin.doc.transact(() => { op(origin.doc) }, 'local')
  }
  const txns = origin.txns.slice(from)
  run.deletes = txns.map(t => t.deletes)
  const encoded = encodeLocalRun(origin.doc, run)
  expect(encoded).toBeDefined()
  const merged = coalesceUpdates(txns.map(t => t.update))
  const ref = { kind, namespace: 'n' }
  expect(analyzeUpdate(receiver, ref, encoded!)).toEqual(analyzeUpdate(receiver, ref, merged))
  Y.applyUpdate(receiver, encoded!)
  expect(snapshotOf(receiver)).toEqual(snapshotOf(origin.doc))
  expect(Y.encodeStateVector(receiver)).toEqual(Y.encodeStateVector(origin.doc))
  expect(Y.equalDeleteSets(Y.createDeleteSetFromStructStore(receiver.store), Y.createDeleteSetFromStructStore(origin.doc.store))).toBe(true)
}

describe('encodeLocalRun()', () => {
  for (const kind of ['kv', 'episodic', 'text'] as const) {
    it(`encodes a run of local ${kind} transactions as one update with the effect and touches of merging them (seeded)`, () => {
      for (let seed = 1; seed <= 20; seed++) scenario(seed * 7919, kind)
    })
  }

  it('is undefined when the document changed client id, so the caller merges', () => {
    const doc = new Y.Doc()
    doc.getMap('kv').set('a', 1)
    expect(encodeLocalRun(doc, { client: doc.clientID + 1, fromClock: 0, deletes: [] })).toBeUndefined()
  })
})

describe('coalesceUpdates()', () => {
  it('merges more updates than one merge takes, in order', () => {
    const doc = new Y.Doc()
    const updates: Uint8Array[] = []
    doc.on('update', (u: Uint8Array) => updates.push(u))
    for (let i = 0; i < 300; i++) doc.getMap('kv').set(`k${i % 50}`, i)
    const target = new Y.Doc()
    Y.applyUpdate(target, coalesceUpdates(updates))
    expect(target.getMap('kv').toJSON()).toEqual(doc.getMap('kv').toJSON())
    expect(() => coalesceUpdates([])).toThrow(RangeError)
  })
})
