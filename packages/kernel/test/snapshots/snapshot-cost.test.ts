import { describe, expect, it } from 'vitest'
import { buildSnapshotRecord, createState } from '../../src/index.ts'
import type { StateChange, StateRoot } from '../../src/index.ts'

function bigState (keys: number): StateRoot {
  const changes: StateChange[] = []
  for (let i = 0; i < keys; i++) changes.push(['kv/bulk', `key-${i}`, i])
  return createState().apply(changes).clearDirty()
}

/** Take a snapshot as the kernel does: capture the root, its hash and the record of its recent changes. */
function takeTime (base: StateRoot, changes: number, runs = 15): number {
  const times: number[] = []
  for (let r = 0; r < runs; r++) {
    let root = base
    for (let i = 0; i < changes; i++) root = root.set('kv/recent', `k${i}`, { r, i })
    const t0 = process.hrtime.bigint()
    const record = buildSnapshotRecord(root, { id: `s${r}`, label: 'x', parent: null, stateHash: root.hash(), eventSeq: 0, timestamp: 0, ledgerSeq: 0, ledgerHead: '0'.repeat(64) })
    times.push(Number(process.hrtime.bigint() - t0))
    expect(record.state.changes).toHaveLength(changes)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] as number
}

describe('snapshot cost', () => {
  it('`buildSnapshotRecord()` costs about the same for 10k and 1M keys after the same number of recent changes', () => {
    const small = bigState(10_000)
    const large = bigState(1_000_000)
    expect(large.size).toBe(1_000_000)
    takeTime(small, 200, 5) // warm up
    const tSmall = takeTime(small, 200)
    const tLarge = takeTime(large, 200)
    const ratio = tLarge / tSmall
    console.log(JSON.stringify({ smallNs: tSmall, largeNs: tLarge, ratio }))
    expect(ratio).toBeLessThan(5)
  }, 120_000)
})
