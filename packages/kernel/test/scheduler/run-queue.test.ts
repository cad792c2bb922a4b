import { describe, expect, it } from 'vitest'
import { createSeededRng, createState } from '../../src/index.ts'
import type { CanonicalValue } from '@os2/crypto'
import type { StateRoot } from '../../src/index.ts'
import { RunQueue } from '../../src/scheduler/run-queue.ts'
import { dependentsOf, pickNext, putToken } from '../../src/scheduler/scheduler.ts'
import type { TokenStatus } from '../../src/index.ts'

function status (id: string, state: TokenStatus['state']): TokenStatus {
  const zero = { tokens: 0, memory: 0, network: 0, wallClockMs: 0 }
  return { token: { id, capability: 'kernel.emit', args: {}, priority: 0, after: [], budget: {}, principal: 'a' }, state, submittedSeq: 0, budget: zero, used: zero }
}

describe('RunQueue', () => {
  it('`pick()` and `dependents()` match the full scans `pickNext()` and `dependentsOf()`, through adds, removals and restores', () => {
    const seed = Number(process.env.SEED ?? 77)
    const rng = createSeededRng(seed)
    const queue = new RunQueue()
    let state: StateRoot = createState()
    let tick = 0
    let order = 0
    const ids: string[] = []
    for (let step = 0; step < 3000; step++) {
      const r = rng.nextFloat()
      if (r < 0.45) {
        const id = `t${order}`
        const after = ids.length > 0 && rng.nextFloat() < 0.3 ? [ids[rng.nextUint32() % ids.length] as string] : []
        state = putToken(state, status(id, 'scheduled'))
        state = queue.add(state, id, { priority: rng.nextUint32() % 4, order: order++, since: tick, after })
        ids.push(id)
      } else if (r < 0.8) {
        const picked = queue.pick(state, tick, 3)
        expect(picked, `SEED=${seed} step ${step}`).toEqual(pickNext(state, tick, 3))
        if (picked !== undefined) {
          state = queue.remove(state, picked.id)
          state = putToken(state, status(picked.id, rng.nextFloat() < 0.8 ? 'completed' : 'failed'))
        }
      } else if (r < 0.85 && ids.length > 0) {
        state = queue.remove(state, ids[rng.nextUint32() % ids.length] as string)
      } else if (r < 0.88) {
        // a state restored from elsewhere: the index must notice and rebuild
        state = createState().apply(state.entries().map(([s, k, v]) => [s, k, v as CanonicalValue] as const))
      }
      if (ids.length > 0 && step % 7 === 0) {
        const dep = ids[rng.nextUint32() % ids.length] as string
        expect(queue.dependents(state, dep), `SEED=${seed} step ${step}`).toEqual(dependentsOf(state, dep))
      }
      tick += rng.nextUint32() % 3
    }
  })
})
