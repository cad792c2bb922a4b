import { describe, expect, it } from 'vitest'
import { createLedgerTail } from '../src/ledger-tail.ts'
import { workloadKernel, writeSome } from './helpers/workload.ts'

describe('createLedgerTail()', () => {
  it('`notify()` delivers each durable event once, in order, from `from`', async () => {
    const kernel = await workloadKernel()
    await writeSome(kernel, 2)
    const tail = createLedgerTail(kernel.ledger, { from: 1, pollMs: 10_000 })
    const seen: number[] = []
    tail.onEvent(e => { seen.push(e.seq) })
    await tail.start()
    expect(seen).toEqual([...Array(kernel.ledger.size - 1).keys()].map(i => i + 1))
    await writeSome(kernel, 2)
    tail.notify()
    tail.notify()
    expect(seen).toEqual([...Array(kernel.ledger.size - 1).keys()].map(i => i + 1))
    expect(tail.position).toBe(kernel.ledger.size)
    await tail.stop()
    await kernel.close()
  })

  it('`notify()` stops at the durable size', () => {
    const events = [{ seq: 0 }, { seq: 1 }, { seq: 2 }]
    const tail = createLedgerTail({ size: 3, durableSize: 2, get: (seq) => events[seq] as never })
    const seen: number[] = []
    tail.onEvent(e => { seen.push(e.seq) })
    tail.notify()
    expect(seen).toEqual([0, 1])
  })
})
