import { describe, expect, it } from 'vitest'
import { episodicView, kvView, vectorView } from '../../src/memory/memory-views.ts'
import { grant, identity, testNode, verdicts } from '../helpers.ts'
import type { TestNode } from '../helpers.ts'

/** mulberry32: small, seeded, good enough to drive a simulation. */
function prng (seed: number): { next(): number, int(n: number): number, pick<T>(xs: readonly T[]): T } {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number): number => Math.floor(next() * n)
  return { next, int, pick: xs => xs[int(xs.length)] as (typeof xs)[number] }
}

interface Message { to: number, from: number, bytes: Uint8Array }

/**
 * N replicas over a simulated network: own bundles are pushed on links that may
 * be cut; messages are delivered in random order or dropped; gaps trigger pulls;
 * random anti-entropy rounds exchange vectors. After healing every link and
 * running anti-entropy, all replicas must hold the same canonical state.
 */
function simulate (seed: number): void {
  const rng = prng(seed)
  const n = 2 + rng.int(4)
  const ids = Array.from({ length: n }, (_, i) => identity(100 + i))
  const grants = ids.map((id, i) => grant(`g${i}`, id.peerId))
  const nodes: TestNode[] = ids.map(id => testNode(id, grants))
  const up = Array.from({ length: n }, () => Array.from({ length: n }, () => true))
  let inflight: Message[] = []

  const pull = (to: number, from: number, origin: string, fromSeq: number): void => {
    if (!(up[to]?.[from] ?? false)) return
    for (const bytes of nodes[from]!.replica.bundleRange(origin, fromSeq, 64)) inflight.push({ to, from, bytes })
  }
  const antiEntropy = (i: number, j: number): void => {
    const theirs = nodes[j]!.replica.vector()
    const mine = nodes[i]!.replica.vector()
    for (const [origin, seq] of Object.entries(theirs)) {
      if (seq > (mine[origin] ?? 0)) pull(i, j, origin, (mine[origin] ?? 0) + 1)
    }
  }
  // Each node's send gate opens and closes at random: closed, writes coalesce in its outbox until a random flush.
  const gateOpen = nodes.map(() => true)
  nodes.forEach((node, i) => {
    node.replica.setSendGate(() => gateOpen[i] === true)
    node.replica.onBundle((bytes, bundle, from) => {
      if (from !== null || bundle.origin !== node.id.peerId) return
      for (let j = 0; j < n; j++) if (j !== i && up[i]?.[j] === true) inflight.push({ to: j, from: i, bytes })
    })
    node.replica.onWant((origin, fromSeq, from) => {
      const j = from === null ? -1 : ids.findIndex(id => id.peerId === from)
      if (j >= 0) pull(i, j, origin, fromSeq)
    })
  })

  const keys = ['a', 'b', 'c', 'd', 'e']
  const steps = 150 + rng.int(150)
  for (let step = 0; step < steps; step++) {
    const r = rng.next()
    const i = rng.int(n)
    const node = nodes[i]!
    node.tick.value += 1 + rng.int(3)
    if (r < 0.05) {
      gateOpen[i] = !(gateOpen[i] ?? true)
      if (gateOpen[i] === true || rng.next() < 0.3) node.replica.flush()
    } else if (r < 0.35) {
      const kind = rng.int(5)
      if (kind === 0) node.replica.write({ kind: 'kv', namespace: 'k' }, doc => { kvView(doc).set(rng.pick(keys), rng.int(1000)) })
      else if (kind === 1) node.replica.write({ kind: 'kv', namespace: 'k' }, doc => { kvView(doc).delete(rng.pick(keys)) })
      else if (kind === 2) node.replica.write({ kind: 'episodic', namespace: 'e' }, doc => { episodicView(doc).append({ by: i, step }) })
      else if (kind === 3) node.replica.write({ kind: 'vector', namespace: 'v' }, doc => { vectorView(doc).upsert(rng.pick(keys), [rng.next(), rng.next()], { step }) })
      else node.replica.write({ kind: 'vector', namespace: 'v' }, doc => { vectorView(doc).remove(rng.pick(keys)) })
    } else if (r < 0.75 && inflight.length > 0) {
      const k = rng.int(inflight.length)
      const [m] = inflight.splice(k, 1)
      if (m !== undefined && up[m.to]?.[m.from] === true) nodes[m.to]!.replica.receive(m.bytes, ids[m.from]!.peerId)
    } else if (r < 0.82 && inflight.length > 0) {
      inflight.splice(rng.int(inflight.length), 1)
    } else if (r < 0.88) {
      const j = rng.int(n)
      if (j !== i) {
        const state = !(up[i]![j] ?? true)
        up[i]![j] = state
        up[j]![i] = state
        if (!state) inflight = inflight.filter(m => !((m.to === i && m.from === j) || (m.to === j && m.from === i)))
      }
    } else {
      const j = rng.int(n)
      if (j !== i && up[i]![j] === true) antiEntropy(i, j)
    }
  }

  // Heal: every link up, outboxes flushed, deliver everything in random order, anti-entropy until quiet.
  for (const row of up) row.fill(true)
  for (const node of nodes) node.replica.flush()
  for (let round = 0; round < 200; round++) {
    while (inflight.length > 0) {
      const [m] = inflight.splice(rng.int(inflight.length), 1)
      if (m !== undefined) nodes[m.to]!.replica.receive(m.bytes, ids[m.from]!.peerId)
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j) antiEntropy(i, j)
    if (inflight.length === 0) break
  }

  const fp = nodes[0]!.replica.memories.fingerprint()
  const vector = JSON.stringify(nodes[0]!.replica.vector())
  for (const node of nodes) {
    expect(node.replica.memories.fingerprint()).toBe(fp)
    expect(JSON.stringify(node.replica.vector())).toBe(vector)
    expect(node.replica.heldCount()).toBe(0)
    expect(verdicts(node).filter(v => v.verdict === 'rejected' && v.reason !== 'REPLAYED' && v.reason !== 'STALE_SEQ')).toEqual([])
  }
  // Nothing lost: every replica has every write of every origin.
  const total = nodes.reduce((sum, node) => sum + (node.replica.vector()[node.id.peerId] ?? 0), 0)
  expect(Object.values(nodes[0]!.replica.vector()).reduce((a, b) => a + b, 0)).toBe(total)
}

describe('convergence property', () => {
  const fixed = process.env.SEED
  const seeds = fixed !== undefined ? [Number(fixed)] : Array.from({ length: 25 }, (_, i) => 0x5eed + i * 7919)
  it.each(seeds)('replicas converge after random writes, reordering, drops and partitions (seed %i)', seed => {
    try {
      simulate(seed)
    } catch (err) {
      console.error(`convergence property failed: replay with SEED=${seed}`)
      throw err
    }
  })
})
