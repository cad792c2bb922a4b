import { describe, expect, it } from 'vitest'
import { ZERO_HASH } from '@os2/crypto'
import { createLedger } from '../../src/index.ts'
import type { EventDraft, EventEnvelope } from '../../src/index.ts'
import { createReplayLedger } from '../../src/ledger/replay-ledger.ts'
import { replayRecorded } from '../../src/replay.ts'
import type { ReplayTarget } from '../../src/replay.ts'

const drafts: EventDraft[] = Array.from({ length: 12 }, (_, i) => ({
  tick: i,
  type: i % 3 === 0 ? 'request' : 'custom',
  capability_id: i % 2 === 0 ? 'kernel.emit' : null,
  token_id: `t${i}`,
  payload: { i, data: { tags: ['a', String(i)], ok: i % 2 === 0 } }
}))

describe('createReplayLedger()', () => {
  it('seals every event with the same bytes and hash as the ledger, also continuing a chain from its middle', () => {
    const full = createLedger()
    const events = drafts.map(d => full.append(d))
    const fromStart = createReplayLedger(0, ZERO_HASH)
    expect(drafts.map(d => fromStart.append(d))).toEqual(events)
    const fromMiddle = createReplayLedger(5, (events[4] as EventEnvelope).hash)
    expect(drafts.slice(5).map(d => fromMiddle.append(d))).toEqual(events.slice(5))
    expect(fromMiddle.head).toBe(full.head)
    expect(fromMiddle.size).toBe(full.size)
  })

  it('takes a verified envelope only when it is the next one of its chain', () => {
    const events = drafts.map(((l) => (d: EventDraft) => l.append(d))(createLedger()))
    const tail = createReplayLedger(0, ZERO_HASH)
    expect(tail.appendVerified(events[1] as EventEnvelope)).toBeUndefined()
    expect(tail.appendVerified(events[0] as EventEnvelope)).toBe(events[0])
    expect(tail.appendVerified({ ...(events[1] as EventEnvelope), extra: 1 } as unknown as EventEnvelope)).toBeUndefined()
    expect(tail.appendVerified(events[1] as EventEnvelope)).toBe(events[1])
    expect(tail.size).toBe(2)
  })

  it('release() forgets the events appended so far but keeps size and head', () => {
    const tail = createReplayLedger(0, ZERO_HASH)
    for (const d of drafts.slice(0, 4)) tail.append(d)
    const head = tail.head
    tail.release()
    expect(tail.size).toBe(4)
    expect(tail.head).toBe(head)
    expect(tail.get(3)).toBeUndefined()
    expect(() => [...tail.events(0)]).toThrow(/no longer holds event 0/)
    const next = tail.append(drafts[4] as EventDraft)
    expect(next.prev_hash).toBe(head)
    expect(tail.get(4)).toBe(next)
    expect([...tail.events()]).toEqual([next])
    expect(() => tail.root()).toThrow(/keeps only the events not yet compared/)
  })
})

describe('replayRecorded()', () => {
  it('releases what it has compared from a replay ledger, step by step', () => {
    const recorded = drafts.map(((l) => (d: EventDraft) => l.append(d))(createLedger()))
    const ledger = createReplayLedger(0, ZERO_HASH)
    let heldAtStep = 0
    const target: ReplayTarget = {
      ledger,
      replayInput: (event) => { heldAtStep = Math.max(heldAtStep, [...ledger.events()].length); ledger.append(drafts[event.seq] as EventDraft) },
      replayStep: () => { heldAtStep = Math.max(heldAtStep, [...ledger.events()].length); ledger.append(drafts[ledger.size] as EventDraft); return true }
    }
    return replayRecorded(target, recorded, 0).then(outcome => {
      expect(outcome).toEqual({ ok: true, eventsReplayed: 12, head: recorded[11]?.hash })
      // Each step found nothing left over from the steps before it.
      expect(heldAtStep).toBe(0)
      expect(ledger.get(11)).toBeUndefined()
    })
  })

  it('still reports the first divergent event with both hashes', async () => {
    const recorded = drafts.map(((l) => (d: EventDraft) => l.append(d))(createLedger()))
    const ledger = createReplayLedger(0, ZERO_HASH)
    const target: ReplayTarget = {
      ledger,
      replayInput: (event) => { ledger.append(event.seq === 6 ? { ...(drafts[6] as EventDraft), payload: { changed: true } } : drafts[event.seq] as EventDraft) },
      replayStep: () => { ledger.append(ledger.size === 7 ? { ...(drafts[7] as EventDraft), tick: 99 } : drafts[ledger.size] as EventDraft); return true }
    }
    const outcome = await replayRecorded(target, recorded, 0)
    expect(outcome.ok).toBe(false)
    if (outcome.ok) return
    expect(outcome.firstDivergentSeq).toBe(6)
    expect(outcome.expected).toBe(recorded[6]?.hash)
    expect(outcome.actual).not.toBe(recorded[6]?.hash)
  })
})
