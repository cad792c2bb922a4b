import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { bundleUpdate, encodeFederatedChange } from '../src/bundle/federated-change.ts'
import { episodicView, kvView } from '../src/memory/memory-views.ts'
import { createFileStorage } from '../src/storage/file-storage.ts'
import { grant, identity, testNode, verdicts } from './helpers.ts'
import type { FederatedChange } from '../src/bundle/federated-change.ts'
import type { FederationGrant } from '../src/policy/grant-book.ts'
import type { TestNode } from './helpers.ts'

const A = identity(11)
const B = identity(12)
const notes = { kind: 'kv', namespace: 'notes' } as const

function pair (grants: FederationGrant[] = [grant('gA', A.peerId)], init: { maxCoalesceBytes?: number, maxFlushDelayMs?: number } = {}): { a: TestNode, b: TestNode, sent: FederatedChange[] } {
  const a = testNode(A, grants, { init })
  const b = testNode(B, grants)
  const sent: FederatedChange[] = []
  a.replica.onBundle((_bytes, bundle, from) => { if (from === null) sent.push(bundle) })
  return { a, b, sent }
}

const dirs: string[] = []
afterEach(() => { for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

describe('replica outbox (group commit)', () => {
  it('seals a write at once while the send gate is open: one bundle per write, no added delay', () => {
    const { a, b, sent } = pair()
    for (let i = 1; i <= 3; i++) {
      const w = a.replica.write(notes, doc => { kvView(doc).set(`k${i}`, i) })
      expect(w?.seq).toBe(i)
      expect(w?.bundle?.seq).toBe(i)
      expect(a.replica.pending()).toBe(0)
    }
    expect(sent.map(s => s.seq)).toEqual([1, 2, 3])
    for (const s of sent) expect(b.replica.receive(encodeFederatedChange(s)).verdict).toBe('accepted')
  })

  it('ships a burst of 1,000 single writes made while the gate is closed as one bundle, and the peer holds every entry', () => {
    const { a, b, sent } = pair()
    let open = false
    a.replica.setSendGate(() => open)
    const seqs = new Set<number>()
    for (let i = 0; i < 1000; i++) {
      const w = a.replica.write(notes, doc => { kvView(doc).set(`key-${i}`, { i }) })
      expect(w?.bundle).toBeUndefined()
      seqs.add(w?.seq ?? -1)
    }
    expect(seqs).toEqual(new Set([1]))
    expect(sent).toEqual([])
    expect(a.replica.pending()).toBe(1000)
    // Not sealed yet: nothing to pull either.
    expect(a.replica.vector()).toEqual({})
    open = true
    const sealed = a.replica.flush()
    expect(sealed.map(s => s.seq)).toEqual([1])
    expect(sent).toEqual(sealed)
    expect(a.replica.pending()).toBe(0)
    expect(a.replica.memories.commits(notes)).toHaveLength(1000)
    expect(b.replica.receive(encodeFederatedChange(sealed[0]!))).toMatchObject({ verdict: 'accepted', seq: 1 })
    const kv = kvView(b.replica.memories.doc(notes))
    for (let i = 0; i < 1000; i++) expect(kv.get(`key-${i}`)).toEqual({ i })
    expect(b.replica.memories.fingerprint()).toBe(a.replica.memories.fingerprint())
    // One verdict and one commit on the receiver for the whole burst.
    expect(verdicts(b)).toHaveLength(1)
    expect(b.ledger.events().filter(e => e.type === 'memory.commit')).toHaveLength(1)
  })

  it('coalesces per memory and keeps seqs gap-free in write order when writes interleave memories', () => {
    const { a, b } = pair()
    a.replica.setSendGate(() => false)
    const log = { kind: 'episodic', namespace: 'log' } as const
    const seqs: number[] = []
    for (let i = 0; i < 10; i++) {
      seqs.push(a.replica.write(notes, doc => { kvView(doc).set(`n${i}`, i) })!.seq)
      seqs.push(a.replica.write(log, doc => { episodicView(doc).append({ i }) })!.seq)
    }
    expect(new Set(seqs)).toEqual(new Set([1, 2]))
    const sealed = a.replica.flush()
    expect(sealed.map(s => [s.seq, s.memory])).toEqual([[1, 'kv:notes'], [2, 'episodic:log']])
    // Delivered out of order: the gap is held, then both apply.
    expect(b.replica.receive(encodeFederatedChange(sealed[1]!)).verdict).toBe('held')
    expect(b.replica.receive(encodeFederatedChange(sealed[0]!)).verdict).toBe('accepted')
    expect(b.replica.vector()).toEqual({ [A.peerId]: 2 })
    expect(b.replica.memories.fingerprint()).toBe(a.replica.memories.fingerprint())
  })

  it('splits a burst at the size bound into several bundles that all apply', () => {
    const { a, b, sent } = pair(undefined, { maxCoalesceBytes: 2000 })
    a.replica.setSendGate(() => false)
    for (let i = 0; i < 200; i++) a.replica.write(notes, doc => { kvView(doc).set(`key-${i}`, 'v'.repeat(20)) })
    // A full bundle is sealed as soon as the next write would overflow it, gate or not.
    expect(sent.length).toBeGreaterThan(0)
    a.replica.flush()
    const sealed = sent
    expect(sealed.length).toBeGreaterThan(3)
    expect(sealed.length).toBeLessThan(200)
    for (const s of sealed) expect(bundleUpdate(s).length).toBeLessThanOrEqual(2000)
    expect(sealed.map(s => s.seq)).toEqual(sealed.map((_, i) => i + 1))
    for (const s of sealed) expect(b.replica.receive(encodeFederatedChange(s)).verdict).toBe('accepted')
    expect(b.replica.memories.fingerprint()).toBe(a.replica.memories.fingerprint())
  })

  it('seals after maxFlushDelayMs when the gate stays closed', async () => {
    const { a, sent } = pair(undefined, { maxFlushDelayMs: 5 })
    a.replica.setSendGate(() => false)
    a.replica.write(notes, doc => { kvView(doc).set('x', 1) })
    a.replica.write(notes, doc => { kvView(doc).set('y', 2) })
    expect(sent).toEqual([])
    await new Promise(r => setTimeout(r, 50))
    expect(sent.map(s => s.seq)).toEqual([1])
    expect(a.replica.pending()).toBe(0)
  })

  it('rejects a coalesced bundle as a whole when one of its commits is out of scope; the seq is used up and the next bundle applies', () => {
    const { a, b } = pair([grant('gA', A.peerId, { scope: { namespaces: ['notes/pub-*', 'public'] } })])
    a.replica.setSendGate(() => false)
    a.replica.write(notes, doc => { kvView(doc).set('pub-1', 1) })
    a.replica.write(notes, doc => { kvView(doc).set('secret', 2) })
    a.replica.write(notes, doc => { kvView(doc).set('pub-2', 3) })
    const [mixed] = a.replica.flush()
    expect(b.replica.receive(encodeFederatedChange(mixed!))).toMatchObject({ verdict: 'rejected', reason: 'OUT_OF_SCOPE', seq: 1 })
    expect(b.replica.memories.canonicalAll()).toEqual({})
    // (A later bundle to the same memory would wait for the refused one's Yjs clocks: the next goes to another memory.)
    a.replica.write({ kind: 'kv', namespace: 'public' }, doc => { kvView(doc).set('p', 4) })
    const [clean] = a.replica.flush()
    expect(b.replica.receive(encodeFederatedChange(clean!))).toMatchObject({ verdict: 'accepted', seq: 2 })
    expect(b.replica.memories.canonicalAll()).toEqual({ 'kv:public': { p: 4 } })
    // The same coalesced bundle again is a replay; a different bundle at a used seq is stale.
    expect(b.replica.receive(encodeFederatedChange(clean!))).toMatchObject({ verdict: 'rejected', reason: 'REPLAYED' })
    expect(b.replica.receive(encodeFederatedChange(mixed!))).toMatchObject({ verdict: 'rejected', reason: 'REPLAYED' })
    expect(verdicts(b).map(v => v.reason)).toEqual(['OUT_OF_SCOPE', null, 'REPLAYED', 'REPLAYED'])
  })

  it('starts a new bundle when the grant a write relies on changes mid-burst', () => {
    const a = testNode(A, [])
    const sent: FederatedChange[] = []
    a.replica.onBundle((_bytes, bundle) => { sent.push(bundle) })
    a.replica.setSendGate(() => false)
    expect(a.replica.write(notes, doc => { kvView(doc).set('x', 1) })?.seq).toBe(1)
    a.grants.add(grant('gA', A.peerId))
    expect(a.replica.write(notes, doc => { kvView(doc).set('y', 2) })?.seq).toBe(2)
    expect(a.replica.write(notes, doc => { kvView(doc).set('z', 3) })?.seq).toBe(2)
    a.replica.flush()
    expect(sent.map(s => [s.seq, s.grant.id])).toEqual([[1, 'none'], [2, 'gA']])
  })

  it('close() seals what waits in the outbox, so a reopened replica has it in its journal', () => {
    const dir = mkdtempSync(join(tmpdir(), 'os2-outbox-'))
    dirs.push(dir)
    const a = testNode(A, [grant('gA', A.peerId)], { storage: createFileStorage(dir) })
    a.replica.setSendGate(() => false)
    for (let i = 0; i < 50; i++) a.replica.write(notes, doc => { kvView(doc).set(`k${i}`, i) })
    a.replica.close()
    const again = testNode(A, [grant('gA', A.peerId)], { storage: createFileStorage(dir) })
    expect(again.replica.vector()).toEqual({ [A.peerId]: 1 })
    expect(Object.keys(again.replica.memories.canonical(notes) as object)).toHaveLength(50)
    expect(again.replica.write(notes, doc => { kvView(doc).set('next', 1) })?.seq).toBe(2)
  })
})
