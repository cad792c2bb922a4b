import '../src/bin/polyfill.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { keyPairFromSeed } from '@os2/crypto'
import { startCluster, waitFor } from '../test/integration/harness.ts'

/**
 * Replication over libp2p between node processes (src/bin/federation-node.ts):
 * entries/s and time to converge for 1,000 and 10,000 kv entries written on
 * one node. The headline cases issue the writes one by one (one entry per
 * write, one commit each), either all in one turn (a burst) or each in its own
 * event-loop turn; the pipeline coalesces them (group commit: writes made
 * while a send is in flight share a bundle), and `bundles` is how many signed
 * bundles actually went out. For reference, writes batched by hand (100 and
 * 1,000 entries per write). Then convergence latency across three nodes (one
 * write, until both others hold it), p50/p99. Reference point (not re-measured
 * here): OrbitDB 3 replicates 230-290 entries/s on this kind of machine
 * (../shared/STACK.md).
 */
const operator = keyPairFromSeed(new Uint8Array(32).fill(9))

const TARGET = 10_000

async function replication (count: number, perWrite: number, spread: boolean): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), 'os2-fed-bench-'))
  const cluster = await startCluster(root, ['a', 'b'], { operatorKey: operator.publicKey })
  try {
    const [a, b] = cluster.nodes as [NonNullable<typeof cluster.nodes[0]>, NonNullable<typeof cluster.nodes[0]>]
    await waitFor('connected', async () => (await b.request<{ peers: string[] }>('status')).peers.length === 1)
    const origin = a.spec.identity.peerId
    // Warm both processes' code paths (JIT) with a run of the same shape in another namespace.
    const warmEntries = Array.from({ length: 3000 }, (_, i) => [`w${i}`, { i, text: `warm-up entry ${i}` }])
    const warm = await a.request<number>('kv.putMany', { namespace: 'warmup', entries: warmEntries, perWrite, spread })
    await b.request('waitVector', { origin, seq: warm, timeoutMs: 60_000 })
    const entries = Array.from({ length: count }, (_, i) => [`key-${i}`, { i, text: `entry number ${i}` }])
    const [cpuA0, cpuB0] = await Promise.all([a.request<number>('cpu'), b.request<number>('cpu')])
    const t0 = performance.now()
    const seq = await a.request<number>('kv.putMany', { namespace: 'bench', entries, perWrite, spread })
    const written = performance.now() - t0
    await b.request('waitVector', { origin, seq, timeoutMs: 300_000 })
    const ms = performance.now() - t0
    // CPU time each process used meanwhile: on a shared, loaded machine wall time stretches, CPU time much less.
    const [cpuA1, cpuB1] = await Promise.all([a.request<number>('cpu'), b.request<number>('cpu')])
    const [sa, sb] = await Promise.all([a.state(), b.state()])
    const entriesPerSec = Math.round(count / (ms / 1000))
    return {
      entries: count,
      writes: Math.ceil(count / perWrite),
      entriesPerWrite: perWrite,
      issued: perWrite > 1 ? 'batched by hand' : spread ? 'one by one, one write per event-loop turn' : 'one by one, in one burst',
      bundles: seq - warm,
      writeMs: Math.round(written),
      convergeMs: Math.round(ms),
      entriesPerSec,
      writerCpuMs: cpuA1 - cpuA0,
      receiverCpuMs: cpuB1 - cpuB0,
      targetEntriesPerSec: TARGET,
      met: entriesPerSec >= TARGET,
      converged: sa.hash === sb.hash
    }
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

const only = process.env.BENCH_CASES // e.g. "10000x1" to run one case
const cases: Array<[number, number, boolean]> = [[1000, 1, false], [10_000, 1, false], [10_000, 1, true], [10_000, 100, false], [10_000, 1000, false]]
for (const [count, perWrite, spread] of cases) {
  if (only !== undefined && !only.split(',').includes(`${count}x${perWrite}${spread ? 's' : ''}`)) continue
  console.log(JSON.stringify({ bench: 'federation.replication', transport: 'libp2p tcp+noise+yamux, 2 processes', ...(await replication(count, perWrite, spread)), referenceOrbitDbEntriesPerSec: 250 }))
}
if (only !== undefined && !only.split(',').includes('latency')) process.exit(0)
console.log(JSON.stringify({ bench: 'federation.convergence-latency', ...(await latency(200)), note: 'includes the JSON-line control round trips of the harness' }))
process.exit(0)
