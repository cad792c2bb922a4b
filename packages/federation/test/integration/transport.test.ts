import { afterEach, describe, expect, it } from 'vitest'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createFederationTransport } from '../../src/transport/federation-transport.ts'
import { FEDERATION_PROTOCOL } from '../../src/transport/wire.ts'
import { kvView, episodicView, vectorView } from '../../src/memory/memory-views.ts'
import { HELD_REASONS } from '../../src/policy/verdict.ts'
import { grant, identity, testNode, verdicts } from '../helpers.ts'
import type { ReasonCode } from '../../src/policy/verdict.ts'
import type { FederationTransport } from '../../src/transport/federation-transport.ts'
import type { TestNode } from '../helpers.ts'

const ids = [identity(11), identity(12), identity(13)]
const grants = ids.map((id, i) => grant(`g${i}`, id.peerId))
const running: Array<{ stop(): unknown }> = []
afterEach(async () => { for (const r of running.splice(0)) await r.stop() })

async function waitFor (what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

async function startNode (i: number, bootstrap: string[] = [], maxBundleBytes?: number, burstWindowMs?: number): Promise<{ node: TestNode, transport: FederationTransport }> {
  const limits = maxBundleBytes === undefined ? {} : { maxBundleBytes }
  const node = testNode(ids[i] ?? ids[0]!, grants, { init: limits })
  const transport = createFederationTransport({ identity: node.id, replica: node.replica }, { bootstrap, antiEntropyIntervalMs: 200, ...limits, ...(burstWindowMs === undefined ? {} : { burstWindowMs }) })
  await transport.start()
  running.push(transport)
  return { node, transport }
}

describe('createFederationTransport()', () => {
  it('replicates writes of every memory kind both ways between two nodes over libp2p', async () => {
    const a = await startNode(0)
    a.node.replica.write({ kind: 'kv', namespace: 'notes' }, doc => { kvView(doc).set('before', 1) })
    const b = await startNode(1, a.transport.addresses())
    b.node.replica.write({ kind: 'episodic', namespace: 'log' }, doc => { episodicView(doc).append({ e: 'b' }) })
    await waitFor('first sync', () => a.node.replica.memories.fingerprint() === b.node.replica.memories.fingerprint() && Object.keys(a.node.replica.memories.canonicalAll()).length === 2)
    let lastA = 0
    let lastB = 0
    for (let i = 0; i < 50; i++) {
      lastA = a.node.replica.write({ kind: 'vector', namespace: 'emb' }, doc => { vectorView(doc).upsert(`a${i}`, [i, 1]) })!.seq
      lastB = b.node.replica.write({ kind: 'kv', namespace: 'notes' }, doc => { kvView(doc).set(`b${i}`, i) })!.seq
    }
    // Writes made while a send is unacknowledged share bundles: far fewer than one per write.
    expect(lastA).toBeLessThan(20)
    expect(lastB).toBeLessThan(20)
    await waitFor('convergence', () => a.node.replica.memories.fingerprint() === b.node.replica.memories.fingerprint() &&
      b.node.replica.vector()[ids[0]!.peerId] === lastA && a.node.replica.vector()[ids[1]!.peerId] === lastB)
    expect(Object.keys(a.node.replica.memories.canonical({ kind: 'vector', namespace: 'emb' }) as object)).toHaveLength(50)
    expect(Object.keys(a.node.replica.memories.canonical({ kind: 'kv', namespace: 'notes' }) as object)).toHaveLength(51)
    expect(a.transport.peers().map(p => p.peerId)).toEqual([ids[1]!.peerId])
    // Every bundle of b is accepted at a exactly once, in sequence order.
    const seen = verdicts(a.node)
    const accepted = seen.filter(v => v.verdict === 'accepted')
    expect(accepted.map(v => v.seq)).toEqual(Array.from({ length: lastB }, (_, i) => i + 1))
    expect(accepted.every(v => v.origin === ids[1]!.peerId)).toBe(true)
    // Anything else is transient under reordering: held for a gap or a missing
    // dependency, or a second copy (pull racing push) of a bundle already accepted (or a's own).
    const own = a.node.replica.bundleRange(ids[0]!.peerId, 1, 1000).map(b => (JSON.parse(Buffer.from(b).toString('utf8')) as { bundle_id: string }).bundle_id)
    const acceptedIds = new Set([...accepted.map(v => v.bundle_id), ...own])
    const unexpected = seen.filter(v => v.verdict !== 'accepted' && !(
      (v.verdict === 'held' && v.reason !== null && HELD_REASONS.has(v.reason as ReasonCode)) ||
      (v.verdict === 'rejected' && v.reason === 'REPLAYED' && acceptedIds.has(v.bundle_id))))
    expect(unexpected).toEqual([])
  })

  it('coalesces writes issued one per event-loop turn into far fewer bundles (SYNC answered by the peer\'s vector), and every entry arrives', async () => {
    // Both nodes share this process's event loop, so turns are slow on a busy machine: a wide burst window keeps the test about the mechanism.
    const a = await startNode(0, [], undefined, 100)
    const b = await startNode(1, a.transport.addresses())
    await waitFor('connected', () => a.transport.peers().length === 1 && b.transport.peers().length === 1)
    let last = 0
    for (let i = 0; i < 2000; i++) {
      last = a.node.replica.write({ kind: 'kv', namespace: 'burst' }, doc => { kvView(doc).set(`k${i}`, i) })!.seq
      await new Promise(resolve => setImmediate(resolve))
    }
    await waitFor('all bundles', () => b.node.replica.vector()[ids[0]!.peerId] === last)
    // In one process the SYNC round trip is about one turn, so about two writes share a bundle (across processes: tens, see cluster.test.ts).
    expect(last).toBeLessThan(1500)
    expect(Object.keys(b.node.replica.memories.canonical({ kind: 'kv', namespace: 'burst' }) as object)).toHaveLength(2000)
    expect(b.node.replica.memories.fingerprint()).toBe(a.node.replica.memories.fingerprint())
    expect(verdicts(b.node).filter(v => v.verdict === 'rejected')).toEqual([])
    // Once the burst is over, an isolated write is sealed and pushed at once: no added delay.
    await new Promise(resolve => setTimeout(resolve, 150))
    const single = a.node.replica.write({ kind: 'kv', namespace: 'burst' }, doc => { kvView(doc).set('after', 1) })
    expect(single?.bundle?.seq).toBe(last + 1)
    expect(a.node.replica.pending()).toBe(0)
    await waitFor('the single write', () => b.node.replica.vector()[ids[0]!.peerId] === last + 1)
  })

  it('drops a peer that sends garbage frames and keeps serving others', async () => {
    const a = await startNode(0)
    const rogue = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    running.push(rogue)
    const stream = await rogue.dialProtocol(multiaddr(a.transport.addresses()[0]!), FEDERATION_PROTOCOL)
    await lpStream(stream).write(new Uint8Array([99, 1, 2, 3]))
    await waitFor('rogue dropped', () => a.transport.stats().dropped === 1)
    await waitFor('rogue disconnected', () => rogue.getConnections().length === 0)
    const b = await startNode(1, a.transport.addresses())
    a.node.replica.write({ kind: 'kv', namespace: 'n' }, doc => { kvView(doc).set('k', 'v') })
    await waitFor('convergence', () => b.node.replica.memories.fingerprint() === a.node.replica.memories.fingerprint())
  })

  it('drops a peer whose frame exceeds the frame limit, records OVERSIZED for a bundle just over the bundle limit, and keeps running', async () => {
    const a = await startNode(0, [], 1000)
    const rogue = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    running.push(rogue)
    const lp = lpStream(await rogue.dialProtocol(multiaddr(a.transport.addresses()[0]!), FEDERATION_PROTOCOL), { maxDataLength: 1 << 20 })
    await lp.write(new Uint8Array(1500).fill(3))
    await waitFor('oversized verdict', () => verdicts(a.node).some(v => v.reason === 'OVERSIZED'))
    expect(a.transport.stats().dropped).toBe(0)
    await lp.write(new Uint8Array(5000).fill(3))
    await waitFor('rogue dropped', () => a.transport.stats().dropped === 1)
    const b = await startNode(1, a.transport.addresses(), 1000)
    b.node.replica.write({ kind: 'kv', namespace: 'n' }, doc => { kvView(doc).set('still', 'alive') })
    await waitFor('convergence', () => a.node.replica.memories.fingerprint() === b.node.replica.memories.fingerprint() && Object.keys(a.node.replica.memories.canonicalAll()).length === 1)
  })
})
