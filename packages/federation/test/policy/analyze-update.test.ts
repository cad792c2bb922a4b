import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { analyzeUpdate } from '../../src/policy/analyze-update.ts'

const kv = { kind: 'kv', namespace: 'notes' } as const

function capture (doc: Y.Doc, fn: () => void): Uint8Array {
  let out: Uint8Array | undefined
  const h = (u: Uint8Array): void => { out = u }
  doc.on('update', h)
  doc.transact(fn)
  doc.off('update', h)
  if (out === undefined) throw new Error('no update')
  return out
}

describe('analyzeUpdate()', () => {
  it('analyzeUpdate() reports the keys an overwrite and a delete touch without changing the document', () => {
    const writer = new Y.Doc()
    const reader = new Y.Doc()
    Y.applyUpdate(reader, capture(writer, () => { writer.getMap('kv').set('a', 1); writer.getMap('kv').set('b', 2) }))
    const before = Y.encodeStateAsUpdate(reader)
    const overwrite = capture(writer, () => { writer.getMap('kv').set('a', 3); writer.getMap('kv').delete('b') })
    expect(analyzeUpdate(reader, kv, overwrite)).toEqual({ touches: ['notes/a', 'notes/b'], violations: [], pending: false })
    expect(Y.encodeStateAsUpdate(reader)).toEqual(before)
  })

  it('analyzeUpdate() reports pending when the update builds on items the document lacks', () => {
    const writer = new Y.Doc()
    capture(writer, () => { writer.getMap('kv').set('a', 1) })
    const next = capture(writer, () => { writer.getMap('kv').set('a', 2) })
    expect(analyzeUpdate(new Y.Doc(), kv, next).pending).toBe(true)
    const del = capture(writer, () => { writer.getMap('kv').delete('a') })
    expect(analyzeUpdate(new Y.Doc(), kv, del).pending).toBe(true)
  })

  it('analyzeUpdate() flags nested shared types, foreign roots and list items under a keyed root', () => {
    const w = new Y.Doc()
    expect(analyzeUpdate(new Y.Doc(), kv, capture(w, () => { w.getMap('kv').set('m', new Y.Map()) })).violations).toContain('nests a shared type')
    const w2 = new Y.Doc()
    expect(analyzeUpdate(new Y.Doc(), kv, capture(w2, () => { w2.getMap('other').set('x', 1) })).violations).toEqual(['touches root "other"'])
    const w3 = new Y.Doc()
    expect(analyzeUpdate(new Y.Doc(), kv, capture(w3, () => { w3.getArray('kv').push([1]) })).violations).toEqual(['changes a list under a keyed root'])
  })

  it('analyzeUpdate() reports a namespace touch for text and episodic appends and flags episodic deletes', () => {
    const w = new Y.Doc()
    const r = new Y.Doc()
    const ins = capture(w, () => { w.getText('text').insert(0, 'hello') })
    expect(analyzeUpdate(r, { kind: 'text', namespace: 'doc' }, ins)).toEqual({ touches: ['doc'], violations: [], pending: false })
    Y.applyUpdate(r, ins)
    expect(analyzeUpdate(r, { kind: 'text', namespace: 'doc' }, capture(w, () => { w.getText('text').insert(2, 'XX') })).touches).toEqual(['doc'])
    const e = new Y.Doc()
    const re = new Y.Doc()
    Y.applyUpdate(re, capture(e, () => { e.getArray('events').push(['a', 'b']) }))
    expect(analyzeUpdate(re, { kind: 'episodic', namespace: 'log' }, capture(e, () => { e.getArray('events').delete(0, 1) })).violations).toEqual(['deletes from an append-only log'])
  })

  it('analyzeUpdate() reports no touches for an update the document already holds', () => {
    const w = new Y.Doc()
    const u = capture(w, () => { w.getMap('kv').set('a', 1) })
    const r = new Y.Doc()
    Y.applyUpdate(r, u)
    expect(analyzeUpdate(r, kv, u)).toEqual({ touches: [], violations: [], pending: false })
  })

  it('analyzeUpdate() throws on bytes that are not an update', () => {
    expect(() => analyzeUpdate(new Y.Doc(), kv, new Uint8Array([255, 255, 255, 255, 9]))).toThrow()
  })
})
