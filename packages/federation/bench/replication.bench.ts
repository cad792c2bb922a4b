import '../src/bin/polyfill.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { keyPairFromSeed } from '@os2/crypto'
import { startCluster, waitFor } from '../test/integration/harness.ts'

/**
 * Replication over libp2p between node processes (src/bin/federation-node.ts):
 * entries/s and time to converge for 1,000 and 10,000 kv writes on one node,
 * with one bundle per write and with 100 and 1,000 writes per bundle (one
 * signature each: Ed25519 verify is the per-bundle floor); then convergence
 * latency across three nodes (one write, until both others hold it), p50/p99.
 * Reference point (not re-measured here): OrbitDB 3 replicates 230-290 entries/s
 * on this kind of machine (../shared/STACK.md).
 */
const operator = keyPairFromSeed(new Uint8Array(32).fill(9))

async function replication (count: number, perBundle: number): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'os2-fed-bench-'))
  const cluster = await startCluster(root, ['a', 'b'], { operatorKey: operator.publicKey })
  try {
    const [a, b] = cluster.nodes as [NonNullable<typeof cluster.nodes[0]>, NonNullable<typeof cluster.nodes[0]>]
    await waitFor('connected', async () => (await b.request<{ peers: string[] }>('status')).peers.length === 1)
    const origin = a.spec.identity.peerId
    // Warm both processes' code paths (JIT) with a small run in another namespace.
    const warm = await a.request<number>('kv.putMany', { namespace: 'warmup', entries: Array.from({ length: 200 }, (_, i) => [`w${i}`, i]), perBundle: 10 })
    await b.request('waitVector', { origin, seq: warm, timeoutMs: 60_000 })
    const entries = Array.from({ length: count }, (_, i) => [`key-${i}`, { i, text: `entry number ${i}` }])
    const t0 = performance.now()
    const seq = await a.request<number>('kv.putMany', { namespace: 'bench', entries, perBundle })
    const written = performance.now() - t0
    await b.request('waitVector', { origin, seq, timeoutMs: 300_000 })
    const ms = performance.now() - t0
    const [sa, sb] = await Promise.all([a.state(), b.state()])
    return { entries: count, perBundle, bundles: seq - warm, writeMs: Math.round(written), convergeMs: Math.round(ms), entriesPerSec: Math.round(count / (ms / 1000)), converged: sa.hash === sb.hash }
  } finally {
    await cluster.stop()
    rmSync(root, { recursive: true, force: true })
  }
}

async function latency (samples: number): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'os2-fed-bench-'))
  const cluster = await startCluster(root, ['a', 'b', 'c'], { operatorKey: operator.publicKey })
  try {
    const [a, b, c] = cluster.nodes as [NonNullable<typeof cluster.nodes[0]>, NonNullable<typeof cluster.nodes[0]>, NonNullable<typeof cluster.nodes[0]>]
    await waitFor('mesh', async () => (await Promise.all(cluster.nodes.map(async n => (await n.request<{ peers: string[] }>('status')).peers.length))).every(x => x === 2))
    const origin = a.spec.identity.peerId
    const times: number[] = []
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now()
      const seq = await a.request<number>('kv.put', { namespace: 'lat', key: `k${i % 10}`, value: i })
      await Promise.all([b.request('waitVector', { origin, seq }), c.request('waitVector', { origin, seq })])
      times.push(performance.now() - t0)
    }
    times.sort((x, y) => x - y)
    const pct = (p: number): number => Number((times[Math.min(times.length - 1, Math.floor(p * times.length))] ?? Number.NaN).toFixed(2))
    return { nodes: 3, samples, p50Ms: pct(0.5), p99Ms: pct(0.99), maxMs: pct(1) }
  } finally {
    await cluster.stop()
    rmSync(root, { recursive: true, force: true })
  }
}

for (const count of [1000, 10_000]) {
  for (const perBundle of [1, 100, 1000]) {
    console.log(JSON.stringify({ bench: 'federation.replication', transport: 'libp2p tcp+noise+yamux, 2 processes', ...(await replication(count, perBundle)), goalEntriesPerSec: 10_000, referenceOrbitDbEntriesPerSec: 250 }))
  }
}
console.log(JSON.stringify({ bench: 'federation.convergence-latency', ...(await latency(200)), note: 'includes the JSON-line control round trips of the harness' }))
process.exit(0)
