import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@os2/crypto'
import { createKernel, createMemoryLedgerStorage, isKernelError, verifySnapshotAuth } from '../../src/index.ts'
import type { KernelHandle, SnapshotRecord } from '../../src/index.ts'
import { createFileSnapshotStore } from '../../node/file-snapshot-store.ts'
import { createTestKernel, grant, submit } from '../../src/testing/index.ts'
import { rehashFrom } from '../helpers.ts'

async function work (kernel: KernelHandle, prefix: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await submit(kernel, { id: `${prefix}-${i}`, capability: 'kernel.state.put', args: { namespace: 'n', key: `${prefix}-${i % 3}`, value: i } })
  }
  await kernel.runUntilIdle()
}

const dirs: string[] = []
afterEach(async () => { for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }) })

describe('kernel.snapshots', () => {
  it('`create()` captures state, `list()` and `show()` return it, `diff()` gives a sorted delta', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await work(kernel, 'a', 3)
    const s1 = await kernel.snapshots.create('one')
    await work(kernel, 'b', 2)
    await submit(kernel, { id: 'over', capability: 'kernel.state.put', args: { namespace: 'n', key: 'a-0', value: 'new' } })
    await kernel.runUntilIdle()
    const s2 = await kernel.snapshots.create('two')
    expect(s1.stateHash).not.toBe(s2.stateHash)
    expect(s1.ledgerHead).toBe(kernel.ledger.get(s1.ledgerSeq)?.hash)
    expect((await kernel.snapshots.list()).map(s => s.label)).toEqual(['one', 'two'])
    const shown = await kernel.snapshots.show(s1.id)
    expect((shown.state as Record<string, Record<string, unknown>>)['kv/n']).toEqual({ 'a-0': 0, 'a-1': 1, 'a-2': 2 })
    const diff = await kernel.snapshots.diff(s1.id, s2.id)
    const kvChanges = diff.changes.filter(c => c.path.startsWith('kv/'))
    expect(kvChanges).toEqual([
      { path: 'kv/n/a-0', before: 0, after: 'new' },
      { path: 'kv/n/b-0', after: 0 },
      { path: 'kv/n/b-1', after: 1 }
    ])
    const paths = diff.changes.map(c => c.path)
    expect([...paths].sort()).toEqual(paths)
  })

  it('`replay()` re-runs the inputs after the snapshot and reproduces every hash', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await work(kernel, 'a', 3)
    const s1 = await kernel.snapshots.create('one')
    await work(kernel, 'b', 5)
    await kernel.handle({ type: 'StreamEvents', since: 0 })
    await kernel.snapshots.create('two')
    await work(kernel, 'c', 2)
    const report = await kernel.snapshots.replay(s1.id)
    expect(report).toEqual({ ok: true, snapshotId: s1.id, eventsReplayed: kernel.ledger.size - s1.ledgerSeq - 1, head: kernel.ledger.head })
    const viaProtocol = await kernel.handle({ type: 'ReplaySnapshot', snapshotId: s1.id })
    expect(viaProtocol.result).toMatchObject({ ok: true })
  })

  it('`replay()` reports the first divergent seq when the ledger after the snapshot was altered', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await work(kernel, 'a', 2)
    const s1 = await kernel.snapshots.create('one')
    await work(kernel, 'b', 4)
    const events = [...kernel.ledger.events()].map(e => structuredClone(e))
    const target = events.findIndex((e, i) => i > s1.ledgerSeq && e.type === 'completed')
    const altered = rehashFrom(events, target, e => ({ ...e, payload: { ...e.payload, result: { ok: false } } }))
    const report = await kernel.snapshots.replay(s1.id, { events: altered })
    expect(report).toMatchObject({ ok: false, firstDivergentSeq: target, expected: altered[target]!.hash })
    // a plain edit without re-hashing is caught too
    const flipped = events.map(e => ({ ...e }))
    flipped[target] = { ...flipped[target]!, tick: flipped[target]!.tick + 1 }
    expect(await kernel.snapshots.replay(s1.id, { events: flipped })).toMatchObject({ ok: false, firstDivergentSeq: target })
    // a change before the snapshot point is reported at that seq
    const early = events.map(e => ({ ...e }))
    early[1] = { ...early[1]!, tick: 99 }
    expect(await kernel.snapshots.replay(s1.id, { events: early })).toMatchObject({ ok: false, firstDivergentSeq: 1 })
  })

  it('`auth()` mints a token that verifies offline with the public key and fails when tampered', async () => {
    const key = generateKeyPair()
    const { kernel } = await createTestKernel({ components: { signer: key } })
    await grant(kernel, 'agent', 'kernel.state.put')
    await work(kernel, 'a', 2)
    const s = await kernel.snapshots.create('auth')
    const token = await kernel.snapshots.auth(s.id)
    const claims = await verifySnapshotAuth(token, key.publicKey)
    expect(claims).toMatchObject({ sub: s.id, ledger_head: s.ledgerHead, ledger_seq: s.ledgerSeq, state_hash: s.stateHash })
    const [h, p, sig] = token.split('.') as [string, string, string]
    const forgedClaims = Buffer.from(JSON.stringify({ ...claims, ledger_head: '0'.repeat(64) })).toString('base64url')
    const mid = Math.floor(sig.length / 2)
    const flippedSig = sig.slice(0, mid) + (sig[mid] === 'A' ? 'B' : 'A') + sig.slice(mid + 1)
    for (const bad of [`${h}.${forgedClaims}.${sig}`, `${h}.${p}.${flippedSig}`, `${h}.${p}`, 'not-a-token']) {
      const err = await verifySnapshotAuth(bad, key.publicKey).catch(e => e)
      expect(isKernelError(err, 'SNAPSHOT_AUTH_INVALID')).toBe(true)
    }
    const other = generateKeyPair()
    expect(isKernelError(await verifySnapshotAuth(token, other.publicKey).catch(e => e), 'SNAPSHOT_AUTH_INVALID')).toBe(true)
  })

  it('`setReady()` flags one snapshot as ready', async () => {
    const { kernel } = await createTestKernel()
    const s1 = await kernel.snapshots.create('a')
    const s2 = await kernel.snapshots.create('b')
    await kernel.snapshots.setReady(s2.id)
    expect((await kernel.snapshots.list()).map(s => [s.id, s.ready])).toEqual([[s1.id, false], [s2.id, true]])
    expect(isKernelError(await kernel.snapshots.setReady('nope').catch(e => e), 'UNKNOWN_SNAPSHOT')).toBe(true)
  })

  it('file snapshots store deltas, survive a restart and materialise through the parent chain', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'os2-snap-'))
    dirs.push(dir)
    const storage = createMemoryLedgerStorage()
    const { kernel, genesis } = await createTestKernel({ storage, components: { snapshots: createFileSnapshotStore(dir) } })
    await grant(kernel, 'agent', 'kernel.state.put')
    await work(kernel, 'a', 20)
    const s1 = await kernel.snapshots.create('one')
    await work(kernel, 'b', 1)
    const s2 = await kernel.snapshots.create('two')
    await kernel.close()
    expect((await readdir(dir)).sort()).toEqual([`${s1.id}.json`, `${s2.id}.json`])
    const rec2 = JSON.parse(await readFile(join(dir, `${s2.id}.json`), 'utf8')) as SnapshotRecord
    expect(rec2.state.parent).toBe(s1.id)
    // the second snapshot holds only what changed since the first
    const rec1 = JSON.parse(await readFile(join(dir, `${s1.id}.json`), 'utf8')) as SnapshotRecord
    expect(rec2.state.changes.length).toBeLessThan(rec1.state.changes.length)
    expect(rec2.state.changes.some(c => c[0] === 'kv/n' && c[1] === 'b-0')).toBe(true)

    const reopened = await createKernel({ storage: createMemoryLedgerStorage(storage.events), snapshots: createFileSnapshotStore(dir) }, { genesis })
    const fresh = await createKernel({ storage: createMemoryLedgerStorage(storage.events), snapshots: createFileSnapshotStore(dir) }, { genesis })
    expect((await reopened.snapshots.list()).map(s => s.id)).toEqual([s1.id, s2.id])
    expect((await reopened.snapshots.replay(s2.id)).ok).toBe(true)
    expect((await fresh.snapshots.show(s2.id)).stateHash).toBe(s2.stateHash)

    // a corrupted file is refused
    await writeFile(join(dir, `${s1.id}.json`), JSON.stringify({ ...rec1, label: 'forged' }))
    const err = await createFileSnapshotStore(dir).get(s1.id).catch(e => e)
    expect(isKernelError(err, 'SNAPSHOT_CORRUPT')).toBe(true)
  })
})
