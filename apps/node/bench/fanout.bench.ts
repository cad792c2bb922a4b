/* Event fan-out through NATS to 4 subscribers: the os2 publisher (ledger tail, msg id = hash,
 * expected-last-msg-id per event) and 4 chain-verifying consumers, beside raw nats.js publishing
 * the same envelopes (pipelined JetStream publish, same window) to 4 raw ordered consumers.
 * Prints one JSON object per benchmark. Run: npx tsx apps/node/bench/fanout.bench.ts */
import '../../../vitest.setup.ts'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import { canonicalize } from '@os2/crypto'
import { pino } from 'pino'
import { createEventPublisher, subscribeEvents } from '../src/nats/index.ts'
import { startNatsServer } from '../src/nats-server.ts'
import { workloadKernel, writeSome } from '../test/helpers/workload.ts'

const SUBSCRIBERS = 4
const WINDOW = 256
const RUNS = Number(process.env.RUNS ?? 3)
const TOKENS = Number(process.env.TOKENS ?? 2000)

const dir = mkdtempSync(join(tmpdir(), 'os2-fanout-bench-'))
const server = await startNatsServer({ dir: join(dir, 'nats') })
const nc = await connect({ servers: server.url })
const jsm = await jetstreamManager(nc)
const js = jetstream(nc)

const kernel = await workloadKernel()
for (let i = 0; i < TOKENS; i += 100) await writeSome(kernel, 100)
const events = [...kernel.ledger.events()]
const encoded = events.map(e => canonicalize(e))
const N = events.length

async function os2Run (run: number): Promise<number> {
  const cluster = `b${run}`
  const subs = []
  let delivered = 0
  let resolveAll!: () => void
  const all = new Promise<void>(resolve => { resolveAll = resolve })
  const started = performance.now()
  const publisher = createEventPublisher({ ledger: kernel.ledger, logger: pino({ level: 'silent' }) }, { servers: [server.url], cluster, node: 'a', window: WINDOW, pollMs: 1 })
  await publisher.start()
  await publisher.waitFor(1, 30_000)
  for (let s = 0; s < SUBSCRIBERS; s++) {
    subs.push(await subscribeEvents(nc, { cluster, nodes: ['a'], follow: true, onEvent: () => { if (++delivered === N * SUBSCRIBERS) resolveAll() } }))
  }
  await all
  const ms = performance.now() - started
  for (const s of subs) await s.stop()
  await publisher.stop()
  return ms
}

async function rawRun (run: number): Promise<number> {
  const name = `RAW_${run}`
  const subject = `raw.${run}.events`
  await jsm.streams.add({ name, subjects: [subject] })
  let delivered = 0
  let resolveAll!: () => void
  const all = new Promise<void>(resolve => { resolveAll = resolve })
  const started = performance.now()
  const iters = []
  const publish = (async () => {
    for (let i = 0; i < N; i += WINDOW) {
      const acks = []
      for (let j = i; j < Math.min(N, i + WINDOW); j++) acks.push(js.publish(subject, encoded[j] as string))
      await Promise.all(acks)
    }
  })()
  for (let s = 0; s < SUBSCRIBERS; s++) {
    const consumer = await js.consumers.get(name, { deliver_policy: DeliverPolicy.All })
    const messages = await consumer.consume()
    iters.push(messages)
    void (async () => {
      for await (const m of messages) {
        JSON.parse(Buffer.from(m.data).toString('utf8'))
        if (++delivered === N * SUBSCRIBERS) resolveAll()
      }
    })()
  }
  await publish
  await all
  const ms = performance.now() - started
  for (const it of iters) it.stop()
  return ms
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const os2: number[] = []
const raw: number[] = []
await os2Run(100)
await rawRun(100)
for (let r = 0; r < RUNS; r++) {
  raw.push(await rawRun(r))
  os2.push(await os2Run(r))
}
const os2Rate = (N * SUBSCRIBERS) / (median(os2) / 1000)
const rawRate = (N * SUBSCRIBERS) / (median(raw) / 1000)
console.log(JSON.stringify({ bench: 'nats.fanout.raw', events: N, subscribers: SUBSCRIBERS, runs: RUNS, medianMs: Math.round(median(raw)), deliveriesPerSec: Math.round(rawRate) }))
console.log(JSON.stringify({ bench: 'nats.fanout.os2', events: N, subscribers: SUBSCRIBERS, runs: RUNS, medianMs: Math.round(median(os2)), deliveriesPerSec: Math.round(os2Rate), ratioToRaw: Number((os2Rate / rawRate).toFixed(2)), target: 0.5 }))
await kernel.close()
await nc.close()
await server.stop()
rmSync(dir, { recursive: true, force: true })
