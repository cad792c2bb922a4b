import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { createMemoryStore } from '../../src/memory/memory-store.ts'
import { canonicalState, kvView, episodicView } from '../../src/memory/memory-views.ts'

const notes = { kind: 'kv', namespace: 'notes' } as const

describe('createMemoryStore()', () => {
  it('write() records commits chained by parents with the author and tick', () => {
    const store = createMemoryStore()
    const c1 = store.write(notes, { author: 'a', tick: 3 }, doc => { kvView(doc).set('k', 1) })
    const c2 = store.write(notes, { author: 'a', tick: 4 }, doc => { kvView(doc).set('k', 2) })
    expect(c1?.parents).toEqual([])
    expect(c2?.parents).toEqual([c1?.id])
    expect(c2?.tick).toBe(4)
    expect(store.head(notes)).toBe(c2?.id)
    expect(store.commits('kv:notes').map(c => c.id)).toEqual([c1?.id, c2?.id])
    expect(c1?.id).toMatch(/^[0-9a-f]{64}$/)
  })

  it('write() returns undefined and records nothing when nothing changed', () => {
    const store = createMemoryStore()
    expect(store.write(notes, { author: 'a', tick: 1 }, () => {})).toBeUndefined()
    expect(store.commits(notes)).toHaveLength(0)
  })

  it('readAt() shows the memory as it was right after a past commit', () => {
    const store = createMemoryStore()
    const c1 = store.write(notes, { author: 'a', tick: 1 }, doc => { kvView(doc).set('k', 'one') })
    store.write(notes, { author: 'a', tick: 2 }, doc => { kvView(doc).set('k', 'two'); kvView(doc).set('j', true) })
    const past = store.readAt(notes, c1?.id ?? '')
    expect(canonicalState('kv', past)).toEqual({ k: 'one' })
    expect(store.canonical(notes)).toEqual({ j: true, k: 'two' })
  })

  it('readAt() throws COMMIT_NOT_FOUND for an unknown commit', () => {
    const store = createMemoryStore()
    expect(() => store.readAt(notes, 'f'.repeat(64))).toThrow(expect.objectContaining({ code: 'COMMIT_NOT_FOUND' }))
  })

  it('fingerprint() is equal for replicas that applied the same updates in different orders', () => {
    const a = createMemoryStore()
    const b = createMemoryStore()
    const u1 = a.write(notes, { author: 'a', tick: 1 }, doc => { kvView(doc).set('x', 1) })
    const u2 = b.write({ kind: 'episodic', namespace: 'log' }, { author: 'b', tick: 1 }, doc => { episodicView(doc).append('e') })
    if (u1 === undefined || u2 === undefined) throw new Error('expected commits')
    a.apply('episodic:log', u2.update, { author: 'b', tick: 1 })
    b.apply('kv:notes', u1.update, { author: 'a', tick: 1 })
    expect(a.fingerprint()).toBe(b.fingerprint())
    expect(a.canonicalAll()).toEqual({ 'episodic:log': ['e'], 'kv:notes': { x: 1 } })
  })

  it('canonicalAll() leaves out memories that were opened but never written', () => {
    const store = createMemoryStore()
    store.doc({ kind: 'vector', namespace: 'empty' })
    expect(store.canonicalAll()).toEqual({})
  })

  it('doc() rejects an invalid memory name', () => {
    const store = createMemoryStore()
    expect(() => store.doc('nope:x')).toThrow(expect.objectContaining({ code: 'MEMORY_INVALID' }))
    expect(() => store.doc({ kind: 'kv', namespace: '../etc' })).toThrow(expect.objectContaining({ code: 'MEMORY_INVALID' }))
    expect(store.doc(notes)).toBeInstanceOf(Y.Doc)
  })
})
