// Scheduler throughput end to end (SubmitToken through the protocol, scheduling,
// capability checks, handler, state commit, every ledger event hashed), beside a
// plain binary-heap priority queue loop over the same tokens.
import { createKernel, createGenesis } from '../src/index.ts'
import { now, report, round } from './bench-util.ts'

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
const kernel = await createKernel({}, { genesis })
await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } })
const t0 = now()
for (let i = 0; i < TOKENS; i += BATCH) {
  for (let j = i; j < Math.min(TOKENS, i + BATCH); j++) {
    await kernel.handle({ type: 'SubmitToken', token: { id: `t${j}`, capability: 'kernel.state.put', principal: 'agent', priority: j % 7, args: { namespace: 'bench', key: `k${j % 1000}`, value: j } } })
  }
  await kernel.runUntilIdle()
}
const kernelMs = now() - t0
const completed = kernel.tokens().filter(t => t.state === 'completed').length

const h0 = now()
heapLoop(TOKENS)
const heapMs = now() - h0

report({
  bench: 'kernel.scheduler',
  tokens: TOKENS,
  completed,
  ledgerEvents: kernel.ledger.size,
  kernelTokensPerSec: Math.round(TOKENS / (kernelMs / 1000)),
  baseline: 'binary-heap priority queue loop, same tokens and batches',
  heapTokensPerSec: Math.round(TOKENS / (heapMs / 1000)),
  kernelVsHeap: round(heapMs / kernelMs, 5)
})
