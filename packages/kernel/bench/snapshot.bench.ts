// Snapshot creation cost at growing state sizes: capture the persistent root,
// its incremental hash and the delta record of the recent changes, beside
// `structuredClone` of the same data (what a copy-based snapshot would cost).
import { buildSnapshotRecord, createState } from '../src/index.ts'
import type { StateChange, StateRoot } from '../src/index.ts'
import { machine, medianMs, report, round } from './bench-util.ts'

const SIZES = (process.env.BENCH_SIZES ?? '10000,100000,1000000').split(',').map(Number)
const RECENT = 200

const rows: Array<Record<string, number>> = []
for (const size of SIZES) {
  const changes: StateChange[] = []
  const plain = new Map<string, number>()
  for (let i = 0; i < size; i++) { changes.push(['kv/bulk', `key-${i}`, i]); plain.set(`key-${i}`, i) }
  let base: StateRoot = createState().apply(changes).clearDirty()
  changes.length = 0
  // The same number of recent changes at every size; only taking the snapshot is timed.
  let root = base
  for (let i = 0; i < RECENT; i++) root = root.set('kv/recent', `k${i}`, i)
  const take = (r: number): unknown => {
    const captured = root // O(1): the root is immutable
    return buildSnapshotRecord(captured, { id: `s${r}`, label: 'bench', parent: null, stateHash: captured.hash(), eventSeq: 0, timestamp: 0, ledgerSeq: 0, ledgerHead: '0'.repeat(64) })
  }
  for (let w = 0; w < 20; w++) take(w) // warm up the JIT
  let r = 0
  const snapshotMs = await medianMs(15, () => take(r++))
  const cloneMs = await medianMs(size >= 1_000_000 ? 3 : 5, () => structuredClone(plain))
  rows.push({ keys: size, snapshotMs: round(snapshotMs, 3), structuredCloneMs: round(cloneMs, 3) })
  base = createState()
}
const first = rows[0]
const last = rows[rows.length - 1]
report({
  bench: 'kernel.snapshot',
  ...machine(),
  recentChanges: RECENT,
  rows,
  baseline: 'structuredClone(Map) of the same keys',
  snapshotGrowth: first !== undefined && last !== undefined ? round((last.snapshotMs ?? 0) / (first.snapshotMs ?? 1), 2) : null,
  cloneGrowth: first !== undefined && last !== undefined ? round((last.structuredCloneMs ?? 0) / (first.structuredCloneMs ?? 1), 2) : null,
  target: 'flat from 10k to 1M keys'
})
