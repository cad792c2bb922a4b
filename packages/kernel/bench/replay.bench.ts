// Replay throughput: rebuilding kernel state from a recorded ledger (every input
// re-run, every produced hash compared), beside raw chain verification of the
// same events (the floor: one canonical encode + SHA-256 per event).
import { createKernel, createGenesis, replayLedger, verifyEvents } from '../src/index.ts'
import type { EventEnvelope } from '../src/index.ts'
import { medianMs, now, report, round } from './bench-util.ts'

const TOKENS = Number(process.env.BENCH_TOKENS ?? 10_000)

async function recordLedger (): Promise<{ events: EventEnvelope[], genesis: ReturnType<typeof createGenesis> }> {
  const genesis = createGenesis({ seed: 'bench' })
  const kernel = await createKernel({}, { genesis })
  await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } })
  await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.emit' } })
  for (let i = 0; i < TOKENS; i++) {
    const token = i % 4 === 0
      ? { id: `t${i}`, capability: 'kernel.emit', principal: 'agent', args: { name: 'tick', data: i } }
      : { id: `t${i}`, capability: 'kernel.state.put', principal: 'agent', args: { namespace: `ns${i % 8}`, key: `k${i % 500}`, value: { i } } }
    await kernel.handle({ type: 'SubmitToken', token })
    if (i % 16 === 15) await kernel.runUntilIdle()
  }
  await kernel.runUntilIdle()
  return { events: [...kernel.ledger.events()], genesis }
}

const t0 = now()
const { events, genesis } = await recordLedger()
const recordMs = now() - t0

let replayOk = true
const replayMs = await medianMs(3, async () => {
  const r = await replayLedger(events, { genesis })
  replayOk &&= r.ok
})
const verifyMs = await medianMs(3, () => verifyEvents(events))

report({
  bench: 'kernel.replay',
  events: events.length,
  tokens: TOKENS,
  replayOk,
  replayEventsPerSec: Math.round(events.length / (replayMs / 1000)),
  baseline: 'verifyEvents (hash chain only)',
  verifyEventsPerSec: Math.round(events.length / (verifyMs / 1000)),
  replayVsVerify: round(verifyMs / replayMs, 3),
  liveRecordEventsPerSec: Math.round(events.length / (recordMs / 1000)),
  target: '>= 100000 events/s'
})
