import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventEnvelope } from '@os2/kernel'
import { createEventPublisher, eventStream, subscribeEvents } from '../../src/nats/index.ts'
import type { StreamAlert } from '../../src/nats/index.ts'
import { startNatsServer } from '../../src/nats-server.ts'
import type { NatsServerProcess } from '../../src/nats-server.ts'
import { workloadKernel, writeSome } from '../helpers/workload.ts'

const logger = pino({ level: 'silent' })
let dir: string
let server: NatsServerProcess
let nc: NatsConnection

async function until (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}

async function readAll (cluster: string, node: string, since = 0): Promise<{ events: EventEnvelope[], alerts: StreamAlert[], duplicates: number }> {
  const events: EventEnvelope[] = []
  const alerts: StreamAlert[] = []
  const sub = await subscribeEvents(nc, { cluster, nodes: [node], since, onEvent: (_n, e) => { events.push(e) }, onAlert: a => { alerts.push(a) } })
  await sub.done
  return { events, alerts, duplicates: sub.stats().duplicates }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'os2-fanout-'))
  server = await startNatsServer({ dir: join(dir, 'nats') })
  nc = await connect({ servers: server.url })
})

afterAll(async () => {
  await nc?.close()
  await server?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('event fan-out over a real nats-server', () => {
  it('`createEventPublisher()` puts every ledger event in JetStream with msg id = hash, in order, and the consumer re-verifies the chain', async () => {
    const kernel = await workloadKernel()
    await writeSome(kernel, 20)
    const publisher = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: [server.url], cluster: 'c1', node: 'a' })
    await publisher.start()
    await publisher.waitFor(kernel.ledger.size)
    await publisher.stop()
    const jsm = await jetstreamManager(nc)
    const info = await jsm.streams.info(eventStream('c1', 'a'))
    expect(info.state.messages).toBe(kernel.ledger.size)
    const third = await jsm.streams.getMessage(eventStream('c1', 'a'), { seq: 3 })
    expect(third?.header.get('Nats-Msg-Id')).toBe(kernel.ledger.get(2)?.hash)
    expect(third?.header.get('Os2-Seq')).toBe('2')
    const { events, alerts } = await readAll('c1', 'a')
    expect(alerts).toEqual([])
    expect(events.map(e => e.hash)).toEqual([...kernel.ledger.events()].map(e => e.hash))
    const tail = await readAll('c1', 'a', 10)
    expect(tail.events[0]?.seq).toBe(10)
    expect(tail.events).toHaveLength(kernel.ledger.size - 10)
    await kernel.close()
  })

  it('`createEventPublisher()` resumes after a restart from the last event the stream holds, without duplicates', async () => {
    const kernel = await workloadKernel()
    await writeSome(kernel, 5)
    const first = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: [server.url], cluster: 'c2', node: 'a' })
    await first.start()
    await first.waitFor(kernel.ledger.size)
    await first.stop()
    await writeSome(kernel, 5)
    const second = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: [server.url], cluster: 'c2', node: 'a' })
    await second.start()
    await second.waitFor(kernel.ledger.size)
    expect(second.status().publishedTotal).toBeLessThan(kernel.ledger.size)
    await second.stop()
    const { events, alerts, duplicates } = await readAll('c2', 'a')
    expect(alerts).toEqual([])
    expect(duplicates).toBe(0)
    expect(events.map(e => e.seq)).toEqual([...Array(kernel.ledger.size).keys()])
    await kernel.close()
  })

  it('`createEventPublisher()` loses and duplicates nothing, for stored and live consumers, when the NATS server stops and restarts under load', async () => {
    const kernel = await workloadKernel()
    const publisher = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: [server.url], cluster: 'c3', node: 'a', window: 64 })
    await publisher.start()
    // A live consumer follows the stream through the outage.
    const live: number[] = []
    const liveAlerts: StreamAlert[] = []
    const follower = await connect({ servers: server.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 })
    await until('the stream to exist', async () => publisher.status().published > 0)
    const sub = await subscribeEvents(follower, { cluster: 'c3', nodes: ['a'], follow: true, onEvent: (_n, e) => { live.push(e.seq) }, onAlert: a => { liveAlerts.push(a) } })
    let writing = true
    const load = (async () => { while (writing) { await writeSome(kernel, 5); await new Promise(resolve => setTimeout(resolve, 1)) } })()
    await until('some events published', () => publisher.status().published > 50)
    await server.stop()
    const sizeAtStop = kernel.ledger.size
    await until('the kernel to keep writing while NATS is down', () => kernel.ledger.size > sizeAtStop + 100)
    expect(publisher.status().lag).toBeGreaterThan(0)
    await server.restart()
    await until('more events after the restart', () => kernel.ledger.size > sizeAtStop + 400)
    writing = false
    await load
    await publisher.waitFor(kernel.ledger.size, 60_000)
    await publisher.stop()
    await until('the live consumer to see every event', () => live.length >= kernel.ledger.size, 90_000)
    await sub.stop()
    await follower.close()
    expect(liveAlerts).toEqual([])
    expect(live).toEqual([...Array(kernel.ledger.size).keys()])
    const { events, alerts, duplicates } = await readAll('c3', 'a')
    expect(alerts).toEqual([])
    expect(duplicates).toBe(0)
    expect(events.length).toBe(kernel.ledger.size)
    expect(events.map(e => e.hash)).toEqual([...kernel.ledger.events()].map(e => e.hash))
    await kernel.close()
  }, 300_000)

  it('`subscribeEvents()` raises an alert when a forged event diverges from the chain', async () => {
    const kernel = await workloadKernel()
    await writeSome(kernel, 3)
    const publisher = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: [server.url], cluster: 'c4', node: 'a' })
    await publisher.start()
    await publisher.waitFor(kernel.ledger.size)
    await publisher.stop()
    // A forger appends an event whose hash is self-consistent but whose prev_hash does not link.
    const { envelopeHash } = await import('@os2/kernel')
    const { canonicalize } = await import('@os2/crypto')
    const last = kernel.ledger.get(kernel.ledger.size - 1) as EventEnvelope
    const body = { ...last, seq: last.seq + 1, event_id: `ev-${last.seq + 1}`, prev_hash: 'f'.repeat(64), payload: { forged: true } }
    const forged = { ...body, hash: envelopeHash(body) }
    const { jetstream } = await import('@nats-io/jetstream')
    await jetstream(nc).publish('os2.c4.events.a', canonicalize(forged))
    const { events, alerts } = await readAll('c4', 'a')
    expect(events).toHaveLength(kernel.ledger.size)
    expect(alerts).toHaveLength(1)
    expect(alerts[0]).toMatchObject({ node: 'a', reason: 'prev_hash_mismatch', seq: last.seq + 1 })
    await kernel.close()
  })
})
