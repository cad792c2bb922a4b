// Scheduler throughput end to end (SubmitToken through the protocol: canonical size
// check, zod, grant check, queueing; then scheduling, rate limits, the handler, state
// commit, every ledger event encoded and hashed), beside a plain binary-heap priority
// queue loop over the same tokens. The target is a sensible factor of the heap, not
// parity: the kernel does a ledger append and a state commit per lifecycle step.
import { canonicalize, sha256Hex, ZERO_HASH } from '@os2/crypto'
import { createKernel, createGenesis } from '../src/index.ts'
import type { KernelHandle } from '../src/index.ts'
import { bestTiming, machine, now, perSec, report, round } from './bench-util.ts'

const TOKENS = Number(process.env.BENCH_TOKENS ?? 10_000)
const BATCH = 64

interface Item { id: number, priority: number, order: number }
function heapLoop (n: number): number {
  const heap: Item[] = []
  const less = (a: Item, b: Item): boolean => a.priority > b.priority || (a.priority === b.priority && a.order < b.order)
  const push = (x: Item): void => {
    heap.push(x)
    let i = heap.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(heap[i] as Item, heap[p] as Item)) break
      ;[heap[i], heap[p]] = [heap[p] as Item, heap[i] as Item]
      i = p
    }
  }
  const pop = (): Item | undefined => {
    const top = heap[0]
    const last = heap.pop()
    if (heap.length > 0 && last !== undefined) {
      heap[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1; const r = l + 1; let m = i
        if (l < heap.length && less(heap[l] as Item, heap[m] as Item)) m = l
        if (r < heap.length && less(heap[r] as Item, heap[m] as Item)) m = r
        if (m === i) break
        ;[heap[i], heap[m]] = [heap[m] as Item, heap[i] as Item]
        i = m
      }
    }
    return top
  }
  let sum = 0
  for (let i = 0; i < n; i += BATCH) {
    for (let j = i; j < Math.min(n, i + BATCH); j++) push({ id: j, priority: j % 7, order: j })
    for (let x = pop(); x !== undefined; x = pop()) sum += x.id
  }
  return sum
}

const genesis = createGenesis({ seed: 'bench' })

/** A mixed stream: mostly writes, some reads, some custom events; seven priorities. */
function token (j: number): Record<string, unknown> {
  const base = { id: `t${j}`, principal: 'agent', priority: j % 7 }
  if (j % 10 < 6) return { ...base, capability: 'kernel.state.put', args: { namespace: 'bench', key: `k${j % 1000}`, value: j % 3 === 0 ? { j, ok: true } : j } }
  if (j % 10 < 9) return { ...base, capability: 'kernel.state.get', args: { namespace: 'bench', key: `k${(j * 7) % 1000}` } }
  return { ...base, capability: 'kernel.emit', args: { name: 'tick', data: j } }
}

/** The whole stream through a fresh kernel: grants, then batches of submits each followed by runUntilIdle. */
async function runKernel (): Promise<{ kernel: KernelHandle, wallMs: number, cpuMs: number }> {
  const kernel = await createKernel({}, { genesis })
  for (const capability of ['kernel.state.put', 'kernel.state.get', 'kernel.emit']) {
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability } })
  }
  const c0 = process.cpuUsage()
  const t0 = now()
  for (let i = 0; i < TOKENS; i += BATCH) {
    for (let j = i; j < Math.min(TOKENS, i + BATCH); j++) await kernel.handle({ type: 'SubmitToken', token: token(j) })
    await kernel.runUntilIdle()
  }
  const wallMs = now() - t0
  const c = process.cpuUsage(c0)
  return { kernel, wallMs, cpuMs: (c.user + c.system) / 1000 }
}

// Best of three fresh kernels (the first also warms the JIT), as the heap loop gets its warm-up and best of five.
let best = await runKernel()
for (let r = 0; r < 2; r++) {
  const next = await runKernel()
  if (next.wallMs < best.wallMs) best = next
}
const { kernel, wallMs: kernelMs, cpuMs: kernelCpuMs } = best
const completed = kernel.tokens().filter(t => t.state === 'completed').length

heapLoop(TOKENS) // warm up
const heap = await bestTiming(5, () => heapLoop(TOKENS))

// How fast this machine runs the bare canonicalize + SHA-256 chain loop over the same events,
// against the reference (~440k events/s), to scale the CPU rate to that machine.
const events = [...kernel.ledger.events()]
const bare = await bestTiming(3, () => {
  let prev = ZERO_HASH
  for (const e of events) prev = sha256Hex(canonicalize({ event_id: e.event_id, seq: e.seq, tick: e.tick, type: e.type, capability_id: e.capability_id, token_id: e.token_id, payload: e.payload, prev_hash: prev }))
  return prev
})
const scale = 440_000 / perSec(events.length, bare.cpuMs)

const kernelRate = perSec(TOKENS, kernelMs)
report({
  bench: 'kernel.scheduler',
  ...machine(),
  tokens: TOKENS,
  batch: BATCH,
  completed,
  ledgerEvents: kernel.ledger.size,
  baseline: { name: 'binary-heap priority queue loop, same tokens and batches', tokensPerSec: perSec(TOKENS, heap.wallMs), cpuTokensPerSec: perSec(TOKENS, heap.cpuMs) },
  project: { name: 'Kernel.handle(SubmitToken) + runUntilIdle, in-memory ledger', tokensPerSec: kernelRate, cpuTokensPerSec: perSec(TOKENS, kernelCpuMs), eventsPerSec: perSec(kernel.ledger.size, kernelMs) },
  ratio: round(heap.wallMs / kernelMs, 5),
  referenceEstimate: { bareLoopCpuEventsPerSec: perSec(events.length, bare.cpuMs), bareLoopScale: round(scale, 2), tokensPerSec: Math.round(perSec(TOKENS, kernelCpuMs) * scale) },
  target: { tokensPerSec: 20_000, met: kernelRate >= 20_000, cpuMet: perSec(TOKENS, kernelCpuMs) >= 20_000 }
})
