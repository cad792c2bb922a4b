import { afterEach, describe, expect, it } from 'vitest'
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { encodeFederatedChange } from '../../src/bundle/federated-change.ts'
import { createFileStorage } from '../../src/storage/file-storage.ts'
import { kvView, episodicView } from '../../src/memory/memory-views.ts'
import { grant, identity, testNode } from '../helpers.ts'

const A = identity(1)
const B = identity(2)
const dirs: string[] = []
function tempDir (): string {
  const d = mkdtempSync(join(tmpdir(), 'os2-fed-'))
  dirs.push(d)
  return d
}
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('createFileStorage()', () => {
  it('a replica reopened on the same data dir recovers memories, commits, seq vector and refused seqs', () => {
    const dir = tempDir()
    const grants = [grant('gA', A.peerId, { scope: { namespaces: ['notes'] } }), grant('gB', B.peerId)]
    const a = testNode(A, grants)
    const b = testNode(B, grants, { storage: createFileStorage(dir) })
    b.replica.write({ kind: 'episodic', namespace: 'log' }, doc => { episodicView(doc).append({ n: 1 }) })
    b.replica.receive(encodeFederatedChange(a.replica.write({ kind: 'kv', namespace: 'notes' }, doc => { kvView(doc).set('k', 1) })!.bundle!))
    b.replica.receive(encodeFederatedChange(a.replica.write({ kind: 'kv', namespace: 'secret' }, doc => { kvView(doc).set('s', 1) })!.bundle!))
    const before = { fp: b.replica.memories.fingerprint(), vector: b.replica.vector(), commits: b.replica.memories.commits('kv:notes') }
    b.replica.close()
    expect(existsSync(join(dir, 'memories', 'kv', 'notes.ystate'))).toBe(true)

    const again = testNode(B, grants, { storage: createFileStorage(dir) })
    expect(again.replica.memories.fingerprint()).toBe(before.fp)
    expect(again.replica.vector()).toEqual(before.vector)
    expect(again.replica.vector()).toEqual({ [A.peerId]: 2, [B.peerId]: 1 })
    expect(again.replica.memories.commits('kv:notes').map(c => c.id)).toEqual(before.commits.map(c => c.id))
    expect(again.replica.memories.canonicalAll()).toEqual({ 'episodic:log': [{ n: 1 }], 'kv:notes': { k: 1 } })
    // The next own bundle continues the sequence.
    expect(again.replica.write({ kind: 'kv', namespace: 'x' }, doc => { kvView(doc).set('y', 2) })?.seq).toBe(2)
  })

  it('load() drops a torn last journal line and the journal stays appendable', () => {
    const dir = tempDir()
    const grants = [grant('gB', B.peerId)]
    const b = testNode(B, grants, { storage: createFileStorage(dir) })
    b.replica.write({ kind: 'kv', namespace: 'n' }, doc => { kvView(doc).set('a', 1) })
    appendFileSync(join(dir, 'federation', 'journal.jsonl'), '{"bundle_id":"trunc')
    const again = testNode(B, grants, { storage: createFileStorage(dir) })
    expect(again.replica.memories.canonicalAll()).toEqual({ 'kv:n': { a: 1 } })
    again.replica.write({ kind: 'kv', namespace: 'n' }, doc => { kvView(doc).set('b', 2) })
    expect(readFileSync(join(dir, 'federation', 'journal.jsonl'), 'utf8').split('\n').filter(Boolean)).toHaveLength(2)
    const third = testNode(B, grants, { storage: createFileStorage(dir) })
    expect(third.replica.memories.canonicalAll()).toEqual({ 'kv:n': { a: 1, b: 2 } })
  })

  it('saveMemoryState() writes a Yjs state that restores the memory', () => {
    const dir = tempDir()
    const b = testNode(B, [], { storage: createFileStorage(dir) })
    b.replica.write({ kind: 'kv', namespace: 'n' }, doc => { kvView(doc).set('a', 1) })
    b.replica.checkpoint()
    const doc = new Y.Doc()
    Y.applyUpdate(doc, readFileSync(join(dir, 'memories', 'kv', 'n.ystate')))
    expect(kvView(doc).get('a')).toBe(1)
  })
})
