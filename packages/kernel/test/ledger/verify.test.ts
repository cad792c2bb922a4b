import { describe, expect, it } from 'vitest'
import { canonicalize, sha256Hex } from '@os2/crypto'
import { verifyEvents } from '../../src/ledger/index.ts'
import type { EventEnvelope } from '../../src/ledger/index.ts'
import { clone, eventsOf } from './fixtures.ts'

const N = 30
const good = eventsOf(N)

function rehash (e: EventEnvelope): EventEnvelope {
  return { ...e, hash: sha256Hex(canonicalize({ ...e, hash: undefined })) }
}

describe('verifyEvents()', () => {
  it('passes an untouched ledger and an empty one', () => {
    expect(verifyEvents(good)).toEqual({ ok: true, size: N, head: good[N - 1]?.hash })
    expect(verifyEvents([])).toMatchObject({ ok: true, size: 0 })
  })

  it('names the changed event when any field of any event changes', () => {
    const mutations: Array<(e: EventEnvelope) => void> = [
      e => { e.tick += 1 },
      e => { e.type = e.type + 'x' },
      e => { e.capability_id = 'other' },
      e => { e.token_id = null },
      e => { e.event_id = 'ev-x' },
      e => { (e.payload as Record<string, unknown>).i = -1 },
      e => { (e.payload as Record<string, unknown>).extra = 1 },
      e => { e.hash = e.hash.replace(/^./, c => (c === '0' ? '1' : '0')) },
      e => { e.prev_hash = e.prev_hash.replace(/.$/, c => (c === '0' ? '1' : '0')) },
      e => { (e as unknown as Record<string, unknown>).added = true }
    ]
    for (const seq of [0, 1, 13, N - 1]) {
      for (const mutate of mutations) {
        const events = clone(good)
        mutate(events[seq] as EventEnvelope)
        const r = verifyEvents(events)
        expect(r.ok).toBe(false)
        if (!r.ok) {
          expect(r.firstBadSeq).toBe(seq)
          expect(r.size).toBe(seq)
        }
      }
    }
  })

  it('reports hash_mismatch for a changed payload and prev_hash_mismatch for a re-hashed forgery', () => {
    const events = clone(good)
    ;(events[5] as EventEnvelope).payload = { forged: true }
    expect(verifyEvents(events)).toMatchObject({ ok: false, firstBadSeq: 5, reason: 'hash_mismatch' })
    // A forger who recomputes the hash of event 5 still breaks the link from event 6.
    events[5] = rehash(events[5] as EventEnvelope)
    expect(verifyEvents(events)).toMatchObject({ ok: false, firstBadSeq: 6, reason: 'prev_hash_mismatch' })
  })

  it('names the first missing seq when an event is deleted', () => {
    for (const seq of [0, 7, N - 2]) {
      const events = good.filter(e => e.seq !== seq)
      expect(verifyEvents(events)).toMatchObject({ ok: false, firstBadSeq: seq, reason: 'seq_mismatch' })
    }
  })

  it('names the duplicate when an event is repeated', () => {
    for (const seq of [0, 9, N - 1]) {
      const events = [...good.slice(0, seq + 1), good[seq] as EventEnvelope, ...good.slice(seq + 1)]
      expect(verifyEvents(events)).toMatchObject({ ok: false, firstBadSeq: seq + 1, reason: 'seq_mismatch' })
    }
  })

  it('names the first out-of-place seq when events are reordered', () => {
    for (const seq of [0, 11, N - 2]) {
      const events = good.slice()
      events[seq] = good[seq + 1] as EventEnvelope
      events[seq + 1] = good[seq] as EventEnvelope
      expect(verifyEvents(events)).toMatchObject({ ok: false, firstBadSeq: seq, reason: 'seq_mismatch' })
    }
  })

  it('names the first event after a cut in the middle', () => {
    const events = [...good.slice(0, 10), ...good.slice(17)]
    expect(verifyEvents(events)).toMatchObject({ ok: false, firstBadSeq: 10 })
  })

  it('reports unparsable for something that is not an envelope', () => {
    const events: unknown[] = [...good.slice(0, 3), { seq: 3 }, ...good.slice(4)]
    expect(verifyEvents(events)).toMatchObject({ ok: false, firstBadSeq: 3, reason: 'unparsable' })
    expect(verifyEvents([null])).toMatchObject({ ok: false, firstBadSeq: 0, reason: 'unparsable' })
  })
})
