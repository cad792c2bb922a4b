import '../src/bin/polyfill.ts'
import { execFileSync } from 'node:child_process'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import * as Y from 'yjs'
import { keyPairFromSeed } from '@os2/crypto'
import { createFederationReplica } from '../src/replica.ts'
import { createGrantBook } from '../src/policy/grant-book.ts'
import { createMemoryLedger } from '../src/ledger-port.ts'
import { nodeIdentity } from '../src/identity.ts'
import { textView } from '../src/memory/memory-views.ts'
import { loadTrace } from './trace.ts'
import type { Patch } from './trace.ts'

/**
 * Signed bundle pipeline on a real editing trace: node A commits batches of
 * edits, each batch is one signed bundle, bytes are handed to node B, which
 * parses, verifies, checks policy (scratch apply) and applies. Baseline: plain
 * Yjs, the same edits in the same batches on one document, whose updates are
 * applied to a second document (replication without signatures or policy);
 * also reported, the bare single-document figure.
 */
const trace = loadTrace()
if (trace === undefined) {
  console.log(JSON.stringify({ bench: 'federation.pipeline', skipped: true, reason: 'editing trace not found; set OS2_TRACE' }))
  process.exit(0)
}
const patches = trace.patches
const batch = Number(process.env.BATCH ?? 1000)

function applyPatch (text: Y.Text, [pos, del, ins]: Patch): void {
  if (del > 0) text.delete(pos, del)
  if (ins.length > 0) text.insert(pos, ins)
}

function plainSingle (): { ms: number, content: string } {
  const t0 = performance.now()
  const doc = new Y.Doc()
  const text = doc.getText('text')
  for (const p of patches) applyPatch(text, p)
  return { ms: performance.now() - t0, content: text.toString() }
}

function plainReplicated (): { ms: number, content: string } {
  const t0 = performance.now()
  const a = new Y.Doc()
  const b = new Y.Doc()
  const text = a.getText('text')
  a.on('update', (u: Uint8Array) => { Y.applyUpdate(b, u) })
  for (let i = 0; i < patches.length; i += batch) {
    a.transact(() => { for (let j = i; j < Math.min(i + batch, patches.length); j++) applyPatch(text, patches[j] as Patch) })
  }
  return { ms: performance.now() - t0, content: b.getText('text').toString() }
}

function pipeline (): { ms: number, content: string, bundles: number, bytes: number } {
  const ida = nodeIdentity(keyPairFromSeed(new Uint8Array(32).fill(1)))
  const idb = nodeIdentity(keyPairFromSeed(new Uint8Array(32).fill(2)))
  const operator = keyPairFromSeed(new Uint8Array(32).fill(3))
  const grants = [{ id: 'g-a', principal: ida.peerId, capability: 'memory.text.write', scope: { namespaces: ['paper'] }, validFrom: 0, validUntil: null, version: 1, revoked: false, issuer: operator.publicKey }]
  let tick = 0
  const a = createFederationReplica({ identity: ida, grants: createGrantBook(grants), ledger: createMemoryLedger(), clock: { now: () => ++tick } })
  const b = createFederationReplica({ identity: idb, grants: createGrantBook(grants), ledger: createMemoryLedger(), clock: { now: () => tick } })
  let bundles = 0
  let bytes = 0
  let rejected = 0
  a.onBundle(encoded => {
    bundles++
    bytes += encoded.length
    if (b.receive(encoded, ida.peerId).verdict !== 'accepted') rejected++
  })
  const t0 = performance.now()
  const ref = { kind: 'text', namespace: 'paper' } as const
  for (let i = 0; i < patches.length; i += batch) {
    a.write(ref, doc => {
      const text = doc.getText('text')
      for (let j = i; j < Math.min(i + batch, patches.length); j++) applyPatch(text, patches[j] as Patch)
    })
  }
  const ms = performance.now() - t0
  if (rejected > 0) throw new Error(`Pipeline rejected ${rejected} bundles`)
  return { ms, content: textView(b.memories.doc(ref)).toString(), bundles, bytes }
}

// Each measurement runs in a fresh process (heap and JIT state of one side must
// not tax the other); the parent keeps the median of RUNS runs per side.
const mode = process.env.BENCH_MODE
if (mode !== undefined) {
  const r: { ms: number, content: string, bundles?: number, bytes?: number } = mode === 'single' ? plainSingle() : mode === 'replicated' ? plainReplicated() : pipeline()
  console.log(JSON.stringify({ ms: r.ms, ok: r.content === trace.endContent, bundles: r.bundles, bytes: r.bytes }))
  process.exit(0)
}
const runs = Number(process.env.RUNS ?? 3)
function measure (m: string): { ms: number, ok: boolean, bundles?: number, bytes?: number } {
  const results = []
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], { env: { ...process.env, BENCH_MODE: m }, encoding: 'utf8', maxBuffer: 1 << 20 })
    results.push(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { ms: number, ok: boolean, bundles?: number, bytes?: number })
  }
  results.sort((x, y) => x.ms - y.ms)
  return results[Math.floor(results.length / 2)] ?? { ms: Number.NaN, ok: false }
}
const replicated = measure('replicated')
const piped = measure('pipeline')
const single = measure('single')
console.log(JSON.stringify({
  bench: 'federation.pipeline',
  trace: trace.path,
  edits: patches.length,
  editsPerBundle: batch,
  runs,
  bundles: piped.bundles,
  bundleBytes: piped.bytes,
  pipelineMs: Math.round(piped.ms),
  plainYjsReplicatedMs: Math.round(replicated.ms),
  plainYjsSingleDocMs: Math.round(single.ms),
  ratioVsReplicated: Number((piped.ms / replicated.ms).toFixed(3)),
  ratioVsSingleDoc: Number((piped.ms / single.ms).toFixed(3)),
  target: 1.3,
  contentMatches: replicated.ok && piped.ok && single.ok
}))
