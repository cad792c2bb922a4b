import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { createSeededRng, replayLedger } from '../../src/index.ts'
import type { EventEnvelope, Genesis, HashOffload } from '../../src/index.ts'
import { createTestKernel, grant, submit } from '../../src/testing/index.ts'
import { createWorkerHashOffload, HashOffloadFailed, PARALLEL_REPLAY_MIN_EVENTS, replayLedgerParallel } from '../../node/index.ts'
import { rehashFrom } from '../helpers.ts'

const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

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

describe('createWorkerHashOffload()', () => {
  it('checks every queued body against its claim on the worker and names the first that differs', async () => {
    const good = createWorkerHashOffload()
    for (let i = 0; i < 3000; i++) good.check(i, `{"i":${i}}`, sha(`{"i":${i}}`))
    await expect(good.settle()).resolves.toBeUndefined()

    const bad = createWorkerHashOffload()
    for (let i = 0; i < 3000; i++) bad.check(i, `{"i":${i}}`, i === 2100 || i === 2500 ? '0'.repeat(64) : sha(`{"i":${i}}`))
    await expect(bad.settle()).resolves.toEqual({ seq: 2100, actual: sha('{"i":2100}') })
  })

  it('keeps seqs right across a gap in what is queued, settles once, and refuses checks after', async () => {
    const offload = createWorkerHashOffload()
    for (let i = 0; i < 10; i++) offload.check(i, `b${i}`, sha(`b${i}`))
    offload.check(20, 'b20', sha('b20'))
    offload.check(21, 'b21', 'f'.repeat(64))
    const first = offload.settle()
    expect(offload.settle()).toBe(first)
    await expect(first).resolves.toEqual({ seq: 21, actual: sha('b21') })
    expect(() => { offload.check(22, 'x', sha('x')) }).toThrow(/settled/)
  })
})

describe('replay with produced events hashed on a worker', () => {
  it('reproduces the head, and reports exactly what one-thread replay reports', async () => {
    const { events, genesis, head } = await recorded(PARALLEL_REPLAY_MIN_EVENTS / 3)
    expect(events.length).toBeGreaterThanOrEqual(PARALLEL_REPLAY_MIN_EVENTS)
    let used = 0
    const counting = (): HashOffload => { used++; return createWorkerHashOffload() }
    const report = await replayLedgerParallel(events, { genesis }, { offloadHashes: counting })
    expect(used).toBe(1)
    expect(report).toMatchObject({ ok: true, head, eventsReplayed: events.length - 1 })
    expect(report).toEqual(await replayLedger(events, { genesis }))
  })

  it('every kind of tamper is reported at the same seq with the same hashes as one-thread replay', async () => {
    const { events, genesis } = await recorded(300)
    const rng = createSeededRng('tamper')
    const cases: Array<[string, EventEnvelope[]]> = []
    for (let n = 0; n < 6; n++) {
      const at = 1 + (rng.nextUint32() % (events.length - 2))
      cases.push([`re-hashed tick edit at ${at}`, rehashFrom(events, at, e => ({ ...e, tick: e.tick + 1 }))])
      cases.push([`re-hashed payload edit at ${at}`, rehashFrom(events, at, e => ({ ...e, payload: { ...e.payload, forged: true } }))])
      const forged = copy(events); (forged[at] as { hash: string }).hash = 'e'.repeat(64); cases.push([`hash forged at ${at}`, forged])
      const short = copy(events); (short[at] as { hash: string }).hash = 'abc'; cases.push([`hash not 64 characters at ${at}`, short])
      const dropped = copy(events); dropped.splice(at, 1); cases.push([`event dropped at ${at}`, dropped])
      const cut = events.slice(0, at); cases.push([`cut at ${at}`, cut])
    }
    for (const [what, tampered] of cases) {
      const single = await replayLedger(tampered, { genesis })
      const offloaded = await replayLedger(tampered, { genesis }, { offloadHashes: createWorkerHashOffload })
      expect(offloaded, what).toEqual(single)
    }
  })

  it('a divergence is named with the hash replay produced, where the chain after it is built on claims', async () => {
    const { events, genesis } = await recorded(300)
    const at = events.findIndex((e, i) => i > 500 && e.type === 'completed')
    const edited = rehashFrom(events, at, e => ({ ...e, payload: { ...e.payload, forged: true } }))
    const report = await replayLedger(edited, { genesis }, { offloadHashes: createWorkerHashOffload })
    expect(report).toMatchObject({ ok: false, firstDivergentSeq: at, expected: edited[at]?.hash, actual: events[at]?.hash })
  })

  it('a hash worker that fails is replaced by replay on this thread', async () => {
    const { events, genesis, head } = await recorded(PARALLEL_REPLAY_MIN_EVENTS / 3)
    const failing = (): HashOffload => ({ check: () => undefined, settle: async () => { throw new HashOffloadFailed('worker gone') } })
    await expect(replayLedger(events, { genesis }, { offloadHashes: failing })).rejects.toBeInstanceOf(HashOffloadFailed)
    await expect(replayLedgerParallel(events, { genesis }, { offloadHashes: failing })).resolves.toMatchObject({ ok: true, head })
  })
})
