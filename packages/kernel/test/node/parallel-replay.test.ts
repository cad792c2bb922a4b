import { describe, expect, it } from 'vitest'
import { envelopeHash, replayLedger, verifyEvents } from '../../src/index.ts'
import type { EventEnvelope, Genesis } from '../../src/index.ts'
import { createTestKernel, grant, submit } from '../../src/testing/index.ts'
import { checkChainOnWorker, PARALLEL_REPLAY_MIN_EVENTS, replayLedgerParallel, verifyChainInBackground } from '../../node/index.ts'
import { rehashFrom } from '../helpers.ts'

/** A recorded ledger of `tokens` mixed tokens (puts, gets, emits), about four events each. */
async function recorded (tokens: number): Promise<{ events: EventEnvelope[], genesis: Genesis, head: string }> {
  const { kernel, genesis } = await createTestKernel({ seed: 5 })
  await grant(kernel, 'agent', 'kernel.state.put')
  await grant(kernel, 'agent', 'kernel.state.get')
  await grant(kernel, 'agent', 'kernel.emit')
  for (let i = 0; i < tokens; i++) {
    const key = `k${i % 37}`
    if (i % 3 === 0) await submit(kernel, { id: `t${i}`, capability: 'kernel.state.put', args: { namespace: 'n', key, value: { i, tags: ['a', String(i % 7)] } }, priority: i % 4 })
    else if (i % 3 === 1) await submit(kernel, { id: `t${i}`, capability: 'kernel.state.get', args: { namespace: 'n', key } })
    else await submit(kernel, { id: `t${i}`, capability: 'kernel.emit', args: { name: 'step', data: { i } } })
    if (i % 16 === 15) await kernel.runUntilIdle()
  }
  await kernel.runUntilIdle()
  return { events: [...kernel.ledger.events()], genesis, head: kernel.ledger.head }
}

const copy = (events: readonly EventEnvelope[]): EventEnvelope[] => events.map(e => structuredClone(e))

/** One-event tampers that do not re-hash: each breaks the chain at `at`. */
function tampers (events: readonly EventEnvelope[], at: number): Array<[string, EventEnvelope[]]> {
  const withEvent = (edit: (e: EventEnvelope) => EventEnvelope): EventEnvelope[] => { const out = copy(events); out[at] = edit(out[at] as EventEnvelope); return out }
  const dropped = copy(events); dropped.splice(at, 1)
  const duplicated = copy(events); duplicated.splice(at, 0, structuredClone(events[at - 1] as EventEnvelope))
  const reordered = copy(events); [reordered[at], reordered[at + 1]] = [reordered[at + 1] as EventEnvelope, reordered[at] as EventEnvelope]
  return [
    ['hash changed', withEvent(e => ({ ...e, hash: e.hash.replace(/^./, c => c === 'a' ? 'b' : 'a') }))],
    ['payload changed, hash kept', withEvent(e => ({ ...e, payload: { ...e.payload, extra: 1 } }))],
    ['tick changed, hash kept', withEvent(e => ({ ...e, tick: e.tick + 1 }))],
    ['prev_hash changed', withEvent(e => ({ ...e, prev_hash: '1'.repeat(64) }))],
    ['extra envelope member', withEvent(e => ({ ...e, note: 'x' }) as unknown as EventEnvelope)],
    ['event deleted', dropped],
    ['event duplicated', duplicated],
    ['events swapped', reordered]
  ]
}

describe('parallel replay: the recorded chain checked on a worker thread', () => {
  it('the worker verifies every hash and link of an untouched ledger', async () => {
    const { events, head } = await recorded(300)
    await expect(checkChainOnWorker(events)).resolves.toEqual({ ok: true, size: events.length, head })
  })

  it('the worker names the first broken seq for every kind of single-event tamper', async () => {
    const { events } = await recorded(200)
    const at = 300
    for (const [what, tampered] of tampers(events, at)) {
      const answer = await checkChainOnWorker(tampered)
      expect(answer, what).toEqual({ ok: false, seq: at })
      // What callers get is exactly the one-thread verifier's verdict, reason included.
      expect(await verifyChainInBackground(tampered), what).toEqual(verifyEvents(tampered))
    }
  })

  it('values JSON cannot carry are judged by the exact verifier, never passed', async () => {
    const { events } = await recorded(20)
    const withBigint = copy(events); (withBigint[10] as { payload: Record<string, unknown> }).payload = { n: 1n }
    const withDate = copy(events); (withDate[12] as { payload: Record<string, unknown> }).payload = { d: new Date(0) }
    await expect(checkChainOnWorker(withBigint)).rejects.toThrow()
    // JSON carries the Date as a string, whose hash is not the recorded one: the worker questions it.
    await expect(checkChainOnWorker(withDate)).resolves.toEqual({ ok: false, seq: 12 })
    for (const bad of [withBigint, withDate]) {
      // The exact verifier refuses both as not canonical JSON, and so does the background check.
      expect(() => verifyEvents(bad)).toThrow(/not canonical JSON/)
      await expect(verifyChainInBackground(bad)).rejects.toMatchObject({ code: 'CANONICAL_UNSUPPORTED_VALUE' })
    }
  })

  it('replay with the chain checked beside it reproduces the head', async () => {
    const { events, genesis, head } = await recorded(PARALLEL_REPLAY_MIN_EVENTS / 3)
    expect(events.length).toBeGreaterThanOrEqual(PARALLEL_REPLAY_MIN_EVENTS)
    await expect(replayLedgerParallel(events, { genesis })).resolves.toMatchObject({ ok: true, head, eventsReplayed: events.length - 1 })
    await expect(replayLedger(events, { genesis }, { verifyChain: verifyChainInBackground })).resolves.toEqual(await replayLedger(events, { genesis }))
  })

  it('a re-hashed edit diverges where one-thread replay says it does', async () => {
    const { events, genesis } = await recorded(300)
    const at = events.findIndex((e, i) => i > 500 && e.type === 'completed')
    const edited = rehashFrom(events, at, e => ({ ...e, payload: { ...e.payload, forged: true } }))
    const single = await replayLedger(edited, { genesis })
    expect(single).toMatchObject({ ok: false, firstDivergentSeq: at })
    expect(await replayLedger(edited, { genesis }, { verifyChain: verifyChainInBackground })).toEqual(single)
  })

  it('a recorded hash that does not match its event is reported at its seq, with the hash the event really has', async () => {
    const { events, genesis } = await recorded(300)
    const at = 777
    const forged = copy(events)
    const real = (forged[at] as EventEnvelope).hash
    ;(forged[at] as { hash: string }).hash = 'f'.repeat(64)
    const report = await replayLedger(forged, { genesis }, { verifyChain: verifyChainInBackground })
    expect(report).toMatchObject({ ok: false, firstDivergentSeq: at, expected: 'f'.repeat(64), actual: real })
    expect(envelopeHash(events[at] as EventEnvelope)).toBe(real)
  })

  it('an event edited without re-hashing is caught at its seq even where re-execution produces the recorded hash', async () => {
    // Replay re-creates the original event, whose hash is the one recorded: only checking the
    // recorded event against its own hash shows the edit.
    const { events, genesis } = await recorded(300)
    const at = events.findIndex((e, i) => i > 400 && e.type === 'custom')
    const edited = copy(events)
    ;(edited[at] as { payload: Record<string, unknown> }).payload = { forged: true }
    await expect(replayLedger(edited, { genesis }, { verifyChain: verifyChainInBackground })).resolves.toMatchObject({ ok: false, firstDivergentSeq: at })
  })
})
