import { afterEach, describe, expect, it } from 'vitest'
import { replayLedger } from '@os2/kernel'
import { identity } from '../helpers.ts'
import { grantTo, invoke, openKernelNode } from '../kernel/kernel-node.ts'
import type { KernelNode } from '../kernel/kernel-node.ts'

const open: KernelNode[] = []
afterEach(async () => { for (const node of open.splice(0)) await node.close().catch(() => undefined) })

async function node (n: number): Promise<KernelNode> {
  const k = await openKernelNode(identity(n))
  open.push(k)
  return k
}

describe('createMemoryCapabilities()', () => {
  it('`memory.kv.write` commits through the kernel, charges memory bytes and records the commit in the ledger', async () => {
    const a = await node(1)
    await grantTo(a, a.genesis.operator, 'memory.kv.write', ['notes'])
    const status = await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { greeting: 'hello', n: 1 } })
    expect(status.state).toBe('completed')
    const result = status.result as { memory: string, commit: string, seq: number, bytes: number }
    expect(result.memory).toBe('kv:notes')
    expect(result.seq).toBe(1)
    expect(status.used.memory).toBe(result.bytes)
    expect(result.bytes).toBeGreaterThan(0)
    await a.federation.ledger.flush()
    const events = [...a.kernel.ledger.events()]
    const commit = events.find(e => e.type === 'memory.commit')
    expect(commit?.payload).toMatchObject({ memory: 'kv:notes', commit_id: result.commit, parents: [], author: a.id.peerId })
    expect(events.some(e => e.type === 'external_result' && e.payload.name === 'memory.write')).toBe(true)
  })

  it('reads, log and show-at-commit return the memory as of each commit', async () => {
    const a = await node(2)
    await grantTo(a, a.genesis.operator, 'memory.kv.write', ['notes'])
    for (const cap of ['memory.kv.get', 'memory.log', 'memory.show']) await grantTo(a, a.genesis.operator, cap)
    const first = (await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { a: 1 } })).result as { commit: string }
    await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { a: 2, b: [1, 2] }, delete: [] })
    expect((await invoke(a, 'memory.kv.get', { namespace: 'notes', key: 'a' })).result).toEqual({ key: 'a', found: true, value: 2 })
    expect((await invoke(a, 'memory.kv.get', { namespace: 'notes', key: 'zz' })).result).toEqual({ key: 'zz', found: false, value: null })
    const log = (await invoke(a, 'memory.log', { kind: 'kv', namespace: 'notes' })).result as { total: number, commits: Array<{ id: string, parents: string[] }> }
    expect(log.total).toBe(2)
    expect(log.commits[0]?.id).toBe(first.commit)
    expect(log.commits[1]?.parents).toEqual([first.commit])
    const at = (await invoke(a, 'memory.show', { kind: 'kv', namespace: 'notes', at: first.commit })).result as { state: unknown }
    expect(at.state).toEqual({ a: 1 })
    const now = (await invoke(a, 'memory.show', { kind: 'kv', namespace: 'notes' })).result as { state: unknown }
    expect(now.state).toEqual({ a: 2, b: [1, 2] })
  })

  it('episodic append/list and vector upsert/search work through tokens', async () => {
    const a = await node(3)
    for (const cap of ['memory.episodic.write', 'memory.episodic.list', 'memory.vector.write', 'memory.vector.search']) await grantTo(a, a.genesis.operator, cap, ['ep', 'emb'])
    await invoke(a, 'memory.episodic.write', { namespace: 'ep', events: [{ e: 1 }, { e: 2 }] })
    await invoke(a, 'memory.episodic.write', { namespace: 'ep', events: ['third'] })
    expect((await invoke(a, 'memory.episodic.list', { namespace: 'ep', from: 1 })).result).toEqual({ total: 3, from: 1, events: [{ e: 2 }, 'third'] })
    await invoke(a, 'memory.vector.write', { namespace: 'emb', upsert: [{ id: 'x', vector: [1, 0] }, { id: 'y', vector: [0, 1], metadata: { t: 'y' } }, { id: 'z', vector: [1, 1] }] })
    const hits = (await invoke(a, 'memory.vector.search', { namespace: 'emb', query: [0, 2], k: 2 })).result as { hits: Array<{ id: string, metadata: unknown }> }
    expect(hits.hits.map(h => h.id)).toEqual(['y', 'z'])
    expect(hits.hits[0]?.metadata).toEqual({ t: 'y' })
  })

  it('a write outside the granted namespaces, or with no grant, fails with a capability violation and changes nothing', async () => {
    const a = await node(4)
    await grantTo(a, a.genesis.operator, 'memory.kv.write', ['notes'])
    const outside = await invoke(a, 'memory.kv.write', { namespace: 'secret', set: { a: 1 } })
    expect(outside.state).toBe('failed')
    expect(outside.error?.code).toBe('GRANT_OUT_OF_SCOPE')
    const nobody = await invoke(a, 'memory.episodic.write', { namespace: 'notes', events: [1] }, 'agent-7')
    expect(nobody.state).toBe('failed')
    const violations = [...a.kernel.ledger.events()].filter(e => e.type === 'capability_violation').map(e => e.payload.reason)
    expect(violations).toEqual(['out_of_scope', 'missing'])
    expect(a.replica.memories.canonicalAll()).toEqual({})
  })

  it('`memory.federate` is grant-only: invoking it fails', async () => {
    const a = await node(5)
    await grantTo(a, a.genesis.operator, 'memory.federate')
    const status = await invoke(a, 'memory.federate', {})
    expect(status.state).toBe('failed')
    expect(status.error?.code).toBe('HANDLER_FAILED')
  })

  it('reopening the data dir replays the ledger without re-applying memory writes', async () => {
    const a = await node(6)
    await grantTo(a, a.genesis.operator, 'memory.kv.write', ['notes'])
    await grantTo(a, a.genesis.operator, 'memory.kv.get', ['notes'])
    for (let i = 0; i < 5; i++) await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { [`k${i}`]: i } })
    await invoke(a, 'memory.kv.get', { namespace: 'notes', key: 'k1' })
    const fingerprint = a.replica.memories.fingerprint()
    const events = [...a.kernel.ledger.events()]
    await a.close()
    open.splice(open.indexOf(a), 1)
    const b = await openKernelNode(a.id, a)
    open.push(b)
    expect(b.kernel.ledger.head).toBe(events[events.length - 1]?.hash)
    expect(b.replica.memories.commits('kv:notes')).toHaveLength(5)
    expect(b.replica.memories.fingerprint()).toBe(fingerprint)
    expect(b.replica.vector()[a.id.peerId]).toBe(5)
    expect((await replayLedger(events, { genesis: a.genesis, descriptors: b.federation.descriptors })).ok).toBe(true)
    // A write after reopening continues the chain.
    const next = await invoke(b, 'memory.kv.write', { namespace: 'notes', set: { after: true } })
    expect((next.result as { seq: number }).seq).toBe(6)
  })
})

describe('a write made through the kernel is in the journal when its token completes', () => {
  it('survives a crash right after the token, even while the send gate holds writes back for coalescing', async () => {
    const a = await node(7)
    await grantTo(a, a.genesis.operator, 'memory.kv.write', ['notes'])
    // A send in flight: direct replica writes would wait in the outbox now (group commit).
    a.replica.setSendGate(() => false)
    const status = await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { kept: true } })
    expect(status.state).toBe('completed')
    expect(a.replica.pending()).toBe(0)
    // "Crash": nothing is flushed or closed; a new process reads the same journal.
    const { createFileStorage } = await import('../../src/storage/file-storage.ts')
    expect(createFileStorage(a.dir).load().bundles).toHaveLength(1)
  })
})
