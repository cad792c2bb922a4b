import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as Y from 'yjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { canonicalize, keyPairFromSeed } from '@os2/crypto'
import { encodeFederatedChange, parseFederatedChange, signFederatedChange } from '../../src/bundle/federated-change.ts'
import { signRevocation } from '../../src/bundle/revocation.ts'
import { nodeIdentity } from '../../src/identity.ts'
import { FEDERATION_PROTOCOL, FRAME, encodeFrame } from '../../src/transport/wire.ts'
import { converged, startCluster, waitFor } from './harness.ts'
import type { Cluster } from './harness.ts'
import type { Libp2p } from '@libp2p/interface'

const operator = keyPairFromSeed(new Uint8Array(32).fill(99))
const rogue = nodeIdentity(keyPairFromSeed(new Uint8Array(32).fill(98)))
const MAX_BUNDLE = 64 * 1024
let root: string
let cluster: Cluster
let rogueNode: Libp2p | undefined

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'os2-fed-cluster-'))
  cluster = await startCluster(root, ['a', 'b', 'c'], {
    operatorKey: operator.publicKey,
    extra: ['--max-bundle', String(MAX_BUNDLE)],
    grants: ids => [
      ...ids.map((id, i) => ({ id: `grant-${i}`, principal: id.peerId, capability: 'memory.federate', scope: { namespaces: ['*'] }, validFrom: 0, validUntil: null, version: 1, revoked: false, issuer: operator.publicKey })),
      { id: 'grant-rogue', principal: rogue.peerId, capability: 'memory.federate', scope: { namespaces: ['public'] }, validFrom: 0, validUntil: null, version: 1, revoked: false, issuer: operator.publicKey }
    ]
  })
  await waitFor('full mesh', async () => (await Promise.all(cluster.nodes.map(async n => (await n.request<{ peers: string[] }>('status')).peers.length))).every(n => n === 2))
})

afterAll(async () => {
  await rogueNode?.stop()
  await cluster?.stop()
  rmSync(root, { recursive: true, force: true })
})

function node (i: number) {
  const n = cluster.nodes[i]
  if (n === undefined) throw new Error(`no node ${i}`)
  return n
}

async function writeAll (tag: string, count: number, nodes = cluster.nodes): Promise<void> {
  await Promise.all(nodes.map(async n => {
    const ops: Array<Promise<unknown>> = []
    for (let i = 0; i < count; i++) {
      ops.push(n.request('kv.put', { namespace: 'shared', key: `${tag}-${i % 3}`, value: `${n.spec.name}-${i}` }))
      ops.push(n.request('kv.put', { namespace: 'shared', key: `${tag}-${n.spec.name}-${i}`, value: i }))
      ops.push(n.request('episodic.append', { namespace: 'log', event: { tag, by: n.spec.name, i } }))
      ops.push(n.request('vector.upsert', { namespace: 'emb', vid: `${tag}-${n.spec.name}-${i}`, vector: [i, 1, n.spec.port % 7], metadata: { i } }))
    }
    await Promise.all(ops)
  }))
}

describe('three federation nodes in separate processes', () => {
  it('converge after concurrent writes to kv, episodic and vector memories', async () => {
    await writeAll('w1', 20)
    await waitFor('convergence', async () => await converged(cluster.nodes))
    const state = await node(0).state()
    expect(Object.keys(state.memories).sort()).toEqual(['episodic:log', 'kv:shared', 'vector:emb'])
    expect((state.memories['episodic:log'] as unknown[]).length).toBe(60)
    expect(Object.keys(state.memories['vector:emb'] as object).length).toBe(60)
    const hits = await node(2).request<Array<{ id: string }>>('vector.search', { namespace: 'emb', query: [19, 1, 0], k: 3 })
    expect(hits).toHaveLength(3)
    // Honest nodes may deliver a bundle twice (a pull racing a push): that is REPLAYED, nothing else.
    for (const n of cluster.nodes) {
      expect((await n.verdicts()).filter(v => v.verdict === 'rejected' && v.reason !== 'REPLAYED')).toEqual([])
    }
  })

  it('coalesce 2,000 single writes issued one per event-loop turn into far fewer bundles, with every entry on every node', async () => {
    const a = node(0)
    const origin = a.spec.identity.peerId
    const before = (await a.request<{ vector: Record<string, number> }>('status')).vector[origin] ?? 0
    const entries = Array.from({ length: 2000 }, (_, i) => [`one-${i}`, i])
    const seq = await a.request<number>('kv.putMany', { namespace: 'burst', entries, perWrite: 1, spread: true })
    await Promise.all([node(1), node(2)].map(async n => await n.request('waitVector', { origin, seq, timeoutMs: 60_000 })))
    expect(seq - before).toBeLessThan(500)
    for (const n of [node(1), node(2)]) {
      const state = await n.state()
      expect(Object.keys(state.memories['kv:burst'] as object)).toHaveLength(2000)
    }
    await waitFor('convergence', async () => await converged(cluster.nodes))
  })

  it('converge with nothing lost after a partition heals', async () => {
    const c = node(2)
    await c.request('disconnect')
    await waitFor('c isolated', async () => (await c.request<{ peers: string[] }>('status')).peers.length === 0)
    await writeAll('p', 10, [node(0), node(1)])
    await writeAll('pc', 10, [c])
    await waitFor('a and b converge', async () => await converged([node(0), node(1)]))
    expect((await c.state()).hash).not.toBe((await node(0).state()).hash)
    await c.request('reconnect')
    await waitFor('all converge after heal', async () => await converged(cluster.nodes))
    const kv = (await node(1).state()).memories['kv:shared'] as Record<string, unknown>
    for (const who of ['a', 'b']) for (let i = 0; i < 10; i++) expect(kv[`p-${who}-${i}`]).toBe(i)
    for (let i = 0; i < 10; i++) expect(kv[`pc-c-${i}`]).toBe(i)
  })

  it('a node killed with SIGKILL catches up from its data dir and its peers after restart', async () => {
    const c = node(2)
    await c.request('kv.put', { namespace: 'shared', key: 'c-before-kill', value: true })
    await waitFor('c write replicated', async () => await converged(cluster.nodes))
    await c.kill('SIGKILL')
    await writeAll('k', 10, [node(0), node(1)])
    await cluster.start(c)
    await waitFor('c catches up', async () => await converged(cluster.nodes))
    const kv = (await c.state()).memories['kv:shared'] as Record<string, unknown>
    expect(kv['c-before-kill']).toBe(true)
    expect(kv['k-a-9']).toBe(9)
    // Its own sequence continued from the journal rather than restarting.
    expect(await c.request('kv.put', { namespace: 'shared', key: 'c-after-restart', value: 1 })).toBeGreaterThan(30)
    await waitFor('post-restart write replicates', async () => await converged(cluster.nodes))
  })

  it('every node rejects, with a ledger reason, bundles without grant, out of scope, forged, replayed, stale, after revocation, oversized and malformed', async () => {
    rogueNode = await createLibp2p({ privateKey: rogue.libp2pKey, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    const streams = await Promise.all(cluster.nodes.map(async n => lpStream(await rogueNode!.dialProtocol(multiaddr(n.spec.addr), FEDERATION_PROTOCOL))))
    const sendAll = async (frame: Uint8Array): Promise<void> => { await Promise.all(streams.map(async s => { await s.write(frame) })) }
    const bundleFrame = (b: Parameters<typeof encodeFederatedChange>[0]): Uint8Array => encodeFrame(FRAME.BUNDLE, encodeFederatedChange(b))
    const update = (key: string, value: unknown = 1): Uint8Array => { const d = new Y.Doc(); d.getMap('kv').set(key, value); return Y.encodeStateAsUpdate(d) }
    const base = { origin: rogue.peerId, ledger_head: '0'.repeat(64), tick: 1 }
    const a = node(0)
    const aOrigin = a.spec.identity.peerId

    // seq 1: refers to a grant that does not exist.
    await sendAll(bundleFrame(signFederatedChange({ ...base, memory: 'kv:public', seq: 1, update: update('x'), grant: { id: 'none', version: 0 } }, rogue.keyPair)))
    // seq 2: the rogue's grant covers `public` only.
    await sendAll(bundleFrame(signFederatedChange({ ...base, memory: 'kv:shared', seq: 2, update: update('evil'), grant: { id: 'grant-rogue', version: 1 } }, rogue.keyPair)))
    // a different seq 1: stale.
    await sendAll(bundleFrame(signFederatedChange({ ...base, memory: 'kv:public', seq: 1, update: update('y'), grant: { id: 'grant-rogue', version: 1 } }, rogue.keyPair)))
    // claims to come from node a, signed by the rogue.
    await sendAll(bundleFrame(signFederatedChange({ ...base, origin: aOrigin, memory: 'kv:shared', seq: 1000, update: update('forged'), grant: { id: 'grant-0', version: 1 } }, rogue.keyPair)))
    // node a's own first bundle, replayed.
    const [first] = await a.request<string[]>('export', { origin: aOrigin, from: 1, max: 1 })
    const parsedFirst = parseFederatedChange(Buffer.from(first ?? ''))
    if (!parsedFirst.ok) throw new Error('cannot parse exported bundle')
    await sendAll(bundleFrame(parsedFirst.value))
    // oversized and malformed.
    await sendAll(encodeFrame(FRAME.BUNDLE, Buffer.from(canonicalize({ pad: 'x'.repeat(MAX_BUNDLE + 10) }))))
    await sendAll(encodeFrame(FRAME.BUNDLE, Buffer.from('{"bundle_id":42}')))
    // revoke the rogue's grant at node a only; the revocation travels to b and c.
    expect(await a.request('revoke', { revocation: signRevocation({ grant_id: 'grant-rogue', version: 2, tick: 5 }, operator) })).toBe('applied')
    await new Promise(r => setTimeout(r, 200))
    await waitFor('revocation learned everywhere', async () => (await Promise.all(cluster.nodes.map(async n => await n.request<string>('revoke', { revocation: signRevocation({ grant_id: 'grant-rogue', version: 2, tick: 5 }, operator) })))).every(r => r === 'duplicate'))
    // seq 3, in scope, but signed with the revoked grant.
    await sendAll(bundleFrame(signFederatedChange({ ...base, memory: 'kv:public', seq: 3, update: update('late'), grant: { id: 'grant-rogue', version: 1 } }, rogue.keyPair)))

    const expected = ['NO_GRANT', 'OUT_OF_SCOPE', 'STALE_SEQ', 'SIGNATURE_INVALID', 'REPLAYED', 'OVERSIZED', 'MALFORMED', 'GRANT_REVOKED']
    for (const n of cluster.nodes) {
      await waitFor(`all reasons on ${n.spec.name}`, async () => {
        const reasons = new Set((await n.verdicts()).map(v => v.reason))
        return expected.every(r => reasons.has(r))
      }, 15_000)
      const v = await n.verdicts()
      const has = (reason: string, origin: string, seq: number): boolean => v.some(x => x.reason === reason && x.origin === origin && x.seq === seq && x.verdict === 'rejected')
      expect(has('NO_GRANT', rogue.peerId, 1)).toBe(true)
      expect(has('OUT_OF_SCOPE', rogue.peerId, 2)).toBe(true)
      expect(has('STALE_SEQ', rogue.peerId, 1)).toBe(true)
      expect(has('SIGNATURE_INVALID', aOrigin, 1000)).toBe(true)
      expect(has('REPLAYED', aOrigin, 1)).toBe(true)
      expect(has('GRANT_REVOKED', rogue.peerId, 3)).toBe(true)
      const kv = (await n.state()).memories['kv:shared'] as Record<string, unknown>
      expect(kv.evil).toBeUndefined()
      expect(kv.forged).toBeUndefined()
      expect((await n.state()).memories['kv:public']).toBeUndefined()
    }
    await waitFor('still converged', async () => await converged(cluster.nodes))
  })
})
