import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { canonicalize } from '@os2/crypto'
import { canonicalState, episodicView, kvView, textView, vectorView } from '../../src/memory/memory-views.ts'

describe('memory views', () => {
  it('kvView() sets, reads, lists sorted keys and deletes', () => {
    const kv = kvView(new Y.Doc())
    kv.set('b', { n: 1 })
    kv.set('a', [1, 'x'])
    expect(kv.get('b')).toEqual({ n: 1 })
    expect(kv.keys()).toEqual(['a', 'b'])
    kv.delete('b')
    expect(kv.has('b')).toBe(false)
    expect(kv.get('b')).toBeUndefined()
  })

  it('kvView().set() rejects an empty key and a non-JSON value', () => {
    const kv = kvView(new Y.Doc())
    expect(() => { kv.set('', 1) }).toThrow(expect.objectContaining({ code: 'VALUE_INVALID' }))
    expect(() => { kv.set('k', Number.NaN) }).toThrow(expect.objectContaining({ code: 'VALUE_INVALID' }))
    expect(() => { kv.set('k', 'x'.repeat(70_000)) }).toThrow(expect.objectContaining({ code: 'VALUE_INVALID' }))
  })

  it('episodicView() appends events in order', () => {
    const log = episodicView(new Y.Doc())
    log.append({ e: 1 })
    log.append({ e: 2 }, { e: 3 })
    expect(log.list()).toEqual([{ e: 1 }, { e: 2 }, { e: 3 }])
    expect(log.length).toBe(3)
  })

  it('vectorView().search() returns the top-k by cosine similarity with ties broken by id', () => {
    const v = vectorView(new Y.Doc())
    v.upsert('x', [1, 0], { label: 'x' })
    v.upsert('y', [0, 1])
    v.upsert('d', [1, 1])
    v.upsert('a', [2, 0])
    const hits = v.search([1, 0], 3)
    expect(hits.map(h => h.id)).toEqual(['a', 'x', 'd'])
    expect(hits[0]?.score).toBeCloseTo(1)
    expect(hits[2]?.score).toBeCloseTo(Math.SQRT1_2)
    expect(hits[1]?.metadata).toEqual({ label: 'x' })
    expect(v.get('y')).toEqual({ id: 'y', vector: [0, 1], metadata: null })
    v.remove('y')
    expect(v.ids()).toEqual(['a', 'd', 'x'])
  })

  it('vectorView().upsert() rejects a vector with a non-finite component', () => {
    expect(() => { vectorView(new Y.Doc()).upsert('a', [1, Number.POSITIVE_INFINITY]) }).toThrow(expect.objectContaining({ code: 'VALUE_INVALID' }))
  })

  it('textView() inserts and deletes text', () => {
    const t = textView(new Y.Doc())
    t.insert(0, 'hello world')
    t.delete(5, 6)
    expect(t.toString()).toBe('hello')
  })

  it('canonicalState() is equal for replicas that wrote keys in different orders', () => {
    const a = new Y.Doc()
    const b = new Y.Doc()
    kvView(a).set('x', 1)
    kvView(a).set('y', 2)
    kvView(b).set('y', 2)
    kvView(b).set('x', 1)
    expect(canonicalize(canonicalState('kv', a))).toBe(canonicalize(canonicalState('kv', b)))
    expect(canonicalize(canonicalState('kv', a))).toBe('{"x":1,"y":2}')
    kvView(b).set('x', 3)
    expect(canonicalize(canonicalState('kv', a))).not.toBe(canonicalize(canonicalState('kv', b)))
  })
})
