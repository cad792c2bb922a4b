import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { EventEnvelope, KernelHandle } from '@os2/kernel'
import { createEventPublisher, eventStream, subscribeEvents } from '../../src/nats/index.ts'
import type { EventPublisher, StreamAlert } from '../../src/nats/index.ts'
import { freePort, startNatsServer } from '../../src/nats-server.ts'
import type { NatsServerProcess } from '../../src/nats-server.ts'
import { until } from '../helpers/node-process.ts'
import { workloadKernel, writeSome } from '../helpers/workload.ts'

/**
 * "Stop and restart the NATS server under load" on the three-server cluster
 * the local cluster runs (routes, JetStream, streams R3): two nodes keep
 * submitting tokens while the server one of them is connected to stops and
 * comes back, then while the whole NATS cluster stops and comes back. A
 * consumer reading each stream from seq 0 afterwards must see every ledger
 * event of its node exactly once, in order, with the hash chain verified.
 */
const logger = pino({ level: 'silent' })
const CLUSTER = 'cr'
let dir: string
let servers: NatsServerProcess[] = []

interface Writer { name: string, kernel: KernelHandle, publisher: EventPublisher }

async function jetStreamAnswers (urls: string[]): Promise<void> {
  await until('JetStream to answer on the cluster', async () => {
    const nc = await connect({ servers: urls, timeout: 1000 }).catch(() => null)
    if (nc === null) return false
    try {
      await (await jetstreamManager(nc, { timeout: 2000 })).getAccountInfo()
      return true
    } catch {
      return false
    } finally {
      await nc.close().catch(() => undefined)
    }
  }, 60_000)
}

async function readStream (nc: NatsConnection, node: string): Promise<{ events: EventEnvelope[], alerts: StreamAlert[], duplicates: number }> {
  const events: EventEnvelope[] = []
  const alerts: StreamAlert[] = []
  const sub = await subscribeEvents(nc, { cluster: CLUSTER, nodes: [node], onEvent: (_n, e) => { events.push(e) }, onAlert: a => { alerts.push(a) } })
  await sub.done
  return { events, alerts, duplicates: sub.stats().duplicates }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'os2-nats-cluster-'))
  const clientPorts = [await freePort(), await freePort(), await freePort()]
  const routePorts = [await freePort(), await freePort(), await freePort()]
  const routes = routePorts.map(p => `nats-route://127.0.0.1:${p}`)
  for (let i = 0; i < 3; i++) {
    servers.push(await startNatsServer({ dir: join(dir, `nats-${i + 1}`), port: clientPorts[i] as number, name: `nats-${i + 1}`, cluster: { name: 'os2-cr', port: routePorts[i] as number, routes } }))
  }
  await jetStreamAnswers(servers.map(s => s.url))
})

afterAll(async () => {
  for (const s of servers) await s.stop()
  servers = []
  rmSync(dir, { recursive: true, force: true })
})

describe('event fan-out on a three-server NATS cluster (JetStream R3)', () => {
  it('`createEventPublisher()` loses and duplicates nothing when a node\'s NATS server, then the whole NATS cluster, stop and restart under load', async () => {
    const [s1, s2, s3] = servers as [NatsServerProcess, NatsServerProcess, NatsServerProcess]
    // Node a is connected to s1 and node b to s2; each learns the other servers from the cluster's INFO.
    const writers: Writer[] = []
    for (const [name, server] of [['a', s1], ['b', s2]] as const) {
      const kernel = await workloadKernel(name === 'a' ? 11 : 12)
      const publisher = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: [server.url], cluster: CLUSTER, node: name, replicas: 3, window: 64 })
      await publisher.start()
      writers.push({ name, kernel, publisher })
    }
    let writing = true
    const load = writers.map(async w => {
      while (writing) {
        await writeSome(w.kernel, 5)
        await new Promise(resolve => setTimeout(resolve, 10))
      }
    })
    const [a, b] = writers as [Writer, Writer]
    const published = (w: Writer): number => w.publisher.status().published
    // A live consumer, connected to s3, follows node b's stream through both outages.
    const live: number[] = []
    const liveAlerts: StreamAlert[] = []
    const follower = await connect({ servers: s3.url, maxReconnectAttempts: -1, reconnectTimeWait: 250 })
    await until('node b\'s stream to exist', () => published(b) > 0)
    const sub = await subscribeEvents(follower, { cluster: CLUSTER, nodes: ['b'], follow: true, onEvent: (_n, e) => { live.push(e.seq) }, onAlert: x => { liveAlerts.push(x) } })
    try {
      await until('both nodes publishing', () => published(a) > 50 && published(b) > 50)
      const probe = await connect({ servers: s3.url })
      const stream = await (await jetstreamManager(probe)).streams.info(eventStream(CLUSTER, 'a'))
      await probe.close()
      expect(stream.config.num_replicas).toBe(3)
      expect(stream.cluster?.replicas).toHaveLength(2)

      // 1. The server node a is connected to stops; a fails over to s2/s3 and keeps publishing.
      await s1.stop()
      const atStop = published(a)
      await until('node a to publish through another server', () => published(a) > atStop + 100, 60_000)
      await s1.restart()
      const afterOne = { a: published(a), b: published(b) }
      await until('both nodes to keep publishing after s1 returns', () => published(a) > afterOne.a + 100 && published(b) > afterOne.b + 100, 60_000)

      // 2. The whole NATS cluster stops; the kernels keep writing into their ledgers.
      for (const s of [s3, s2, s1]) await s.stop()
      const sizes = { a: a.kernel.ledger.size, b: b.kernel.ledger.size }
      await until('the kernels to keep writing while NATS is down', () => a.kernel.ledger.size > sizes.a + 100 && b.kernel.ledger.size > sizes.b + 100)
      expect(a.publisher.status().lag).toBeGreaterThan(0)
      for (const s of [s1, s2, s3]) await s.restart()
      await until('both nodes to publish past what they held when NATS stopped', () => published(a) > sizes.a + 100 && published(b) > sizes.b + 100, 90_000)
    } finally {
      writing = false
      await Promise.all(load)
    }
    for (const w of writers) {
      await w.publisher.waitFor(w.kernel.ledger.size, 60_000)
      await w.publisher.stop()
    }
    await until('the live consumer to see every event of b', () => live.length >= b.kernel.ledger.size, 60_000)
    await sub.stop()
    await follower.close()
    expect(liveAlerts).toEqual([])
    expect(live).toEqual([...Array(b.kernel.ledger.size).keys()])

    const nc = await connect({ servers: servers.map(s => s.url) })
    try {
      for (const w of writers) {
        const { events, alerts, duplicates } = await readStream(nc, w.name)
        const ledger = [...w.kernel.ledger.events()]
        expect(alerts).toEqual([])
        expect(duplicates).toBe(0)
        expect(events.map(e => e.seq)).toEqual(ledger.map(e => e.seq))
        expect(events.map(e => e.hash)).toEqual(ledger.map(e => e.hash))
        const info = await (await jetstreamManager(nc)).streams.info(eventStream(CLUSTER, w.name))
        expect(info.state.messages).toBe(ledger.length)
        expect(info.state.last_seq).toBe(ledger.length)
      }
    } finally {
      await nc.close()
      for (const w of writers) await w.kernel.close()
    }
  }, 110_000)
})
