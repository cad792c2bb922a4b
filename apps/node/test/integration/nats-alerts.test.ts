import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect, headers } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream } from '@nats-io/jetstream'
import { pino } from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { canonicalize, generateKeyPair } from '@os2/crypto'
import { dialKernel, nodeIdentity } from '@os2/federation'
import type { KernelClient } from '@os2/federation'
import { envelopeHash } from '@os2/kernel'
import type { EventEnvelope } from '@os2/kernel'
import { createEventPublisher, eventSubject } from '../../src/nats/index.ts'
import { startNatsServer } from '../../src/nats-server.ts'
import type { NatsServerProcess } from '../../src/nats-server.ts'
import { killNode, sample, spawnNode, until, writeConfig } from '../helpers/node-process.ts'
import type { NodeProcess } from '../helpers/node-process.ts'
import { workloadKernel, writeSome } from '../helpers/workload.ts'

/**
 * A node's own consumers: os2-node follows its own event stream and the
 * streams of the nodes in `nats.watch`, re-verifies each chain, and records
 * a divergence as an `alert` event in its own ledger (deterministic fields
 * only), logs it and counts it in /metrics.
 */
const logger = pino({ level: 'silent' })
let dir: string
let nats: NatsServerProcess
let nc: NatsConnection
const operator = nodeIdentity(generateKeyPair())
const running: NodeProcess[] = []
const clients: KernelClient[] = []

function start (name: string, watch: string[]): NodeProcess {
  const node = spawnNode(writeConfig(dir, name, `cluster = "t"
node = "${name}"
data_dir = "${join(dir, name)}"
[nats]
servers = ["${nats.url}"]
watch = ${JSON.stringify(watch)}
[attach]
operators = ["${operator.peerId}"]
[metrics]
address = "127.0.0.1:0"
`))
  running.push(node)
  return node
}

async function attach (node: NodeProcess): Promise<KernelClient> {
  const client = await dialKernel((await node.ready).attach[0] as string, { privateKey: operator.libp2pKey })
  clients.push(client)
  return client
}

async function ledger (client: KernelClient): Promise<EventEnvelope[]> {
  return (await client.call<{ events: EventEnvelope[] }>('events', { from: 0 })).events
}

async function streamAlerts (client: KernelClient): Promise<Array<Record<string, unknown>>> {
  return (await ledger(client)).filter(e => e.type === 'alert' && e.payload.kind === 'stream_divergence').map(e => e.payload)
}

async function metrics (node: NodeProcess): Promise<string> {
  return await (await fetch(`http://${(await node.ready).metrics}/metrics`)).text()
}

/** Publishes `n` writes of a fresh kernel as node `name`'s stream; returns its events. */
async function legitStream (name: string, n: number): Promise<EventEnvelope[]> {
  const kernel = await workloadKernel()
  await writeSome(kernel, n)
  const publisher = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: [nats.url], cluster: 't', node: name })
  await publisher.start()
  await publisher.waitFor(kernel.ledger.size)
  await publisher.stop()
  const events = [...kernel.ledger.events()]
  await kernel.close()
  return events
}

/** An envelope after `last` whose own hash is right and whose link is `prevHash`. */
function forge (last: EventEnvelope, prevHash: string, seq = last.seq + 1): EventEnvelope {
  const body = { ...last, seq, event_id: `ev-${seq}`, prev_hash: prevHash, payload: { forged: true } }
  return { ...body, hash: envelopeHash(body) }
}

async function inject (name: string, event: EventEnvelope): Promise<void> {
  const h = headers()
  h.set('Os2-Seq', String(event.seq))
  await jetstream(nc).publish(eventSubject('t', name), canonicalize(event), { headers: h })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'os2-nats-alerts-'))
  nats = await startNatsServer({ dir: join(dir, 'nats') })
  nc = await connect({ servers: nats.url })
})

afterEach(async () => {
  for (const c of clients.splice(0)) await c.close().catch(() => undefined)
  for (const n of running.splice(0)) await killNode(n)
})

afterAll(async () => {
  await nc?.close()
  await nats?.stop()
  rmSync(dir, { recursive: true, force: true })
})

describe('stream divergence alerts in the node\'s ledger', () => {
  it('`os2-node` records an `alert` in its ledger, logs it and counts it when a watched stream receives a forged or a reordered event, once across restarts', async () => {
    const x = await legitStream('x', 3)
    const y = await legitStream('y', 3)
    const node = start('w', ['x', 'y'])
    const client = await attach(node)
    await until('the watcher to follow x and y', () => node.lines.filter(l => l.msg === 'watching event stream').length >= 3)

    // x: a self-consistent event that does not link to x's head.
    const last = x[x.length - 1] as EventEnvelope
    await inject('x', forge(last, 'f'.repeat(64)))
    // y: the next event skipped, the one after it published first (reordered).
    const yLast = y[y.length - 1] as EventEnvelope
    const next = forge(yLast, yLast.hash)
    await inject('y', forge(next, next.hash))

    await until('both alerts in the ledger', async () => (await streamAlerts(client)).length >= 2, 30_000)
    const alerts = await streamAlerts(client)
    expect(alerts).toEqual(expect.arrayContaining([
      { kind: 'stream_divergence', node: 'x', stream: 'OS2_t_x', reason: 'prev_hash_mismatch', seq: last.seq + 1, stream_seq: last.seq + 2, message: expect.stringContaining('does not link') },
      { kind: 'stream_divergence', node: 'y', stream: 'OS2_t_y', reason: 'seq_gap', seq: yLast.seq + 1, stream_seq: yLast.seq + 2, message: `Expected event ${yLast.seq + 1}, got ${yLast.seq + 2}` }
    ]))
    expect(alerts).toHaveLength(2)
    // The ledger still verifies with the alerts in it.
    expect(await client.call<{ ok: boolean }>('verify')).toMatchObject({ ok: true })
    await until('metrics to count the alerts', async () => sample(await metrics(node), 'os2_alerts_total{kind="stream_divergence"}') === 2)
    expect(node.lines.filter(l => l.alert === 'stream_divergence' && l.level === 50).map(l => l.node).sort()).toEqual(['x', 'y'])

    // Restarted, the node re-checks the streams' last messages and finds the alerts already recorded.
    node.child.kill('SIGTERM')
    await node.exited
    const again = start('w', ['x', 'y'])
    const client2 = await attach(again)
    await until('the restarted watcher to see both divergences again', () => again.lines.filter(l => l.msg === 'stream alert already in the ledger').length >= 2, 30_000)
    expect(await streamAlerts(client2)).toHaveLength(2)
    expect(sample(await metrics(again), 'os2_alerts_total{kind="stream_divergence"}')).toBe(2)
  })

  it('`os2-node` records one `alert` when its own stream holds an event its ledger does not, and stops publishing', async () => {
    const node = start('o', [])
    const client = await attach(node)
    await until('the node to publish its genesis events', async () => (await fetch(`http://${(await node.ready).metrics}/readyz`)).status === 200)
    await until('the watcher to follow its own stream', () => node.lines.some(l => l.msg === 'watching event stream' && l.node === 'o'))
    const events = await ledger(client)
    const head = events[events.length - 1] as EventEnvelope
    await until('the stream to hold the whole ledger', async () => sample(await metrics(node), 'os2_nats_published_seq') === events.length)
    // Someone with write access to NATS appends an event that links to the node's head.
    await inject('o', forge(head, head.hash))
    await until('the alert in the ledger', async () => (await streamAlerts(client)).length >= 1, 30_000)
    // The alert is the node's next event, so the publisher finds the stream ahead of it too: still one alert.
    await until('/readyz to report the diverged stream', async () => {
      const res = await fetch(`http://${(await node.ready).metrics}/readyz`)
      return res.status === 503 && (await res.text()).includes('diverged')
    }, 30_000)
    await until('the publisher to report the same message', () => node.lines.some(l => l.msg === 'stream alert already in the ledger'), 30_000)
    const alerts = await streamAlerts(client)
    expect(alerts).toEqual([{ kind: 'stream_divergence', node: 'o', stream: 'OS2_t_o', reason: 'stream_ahead', seq: head.seq + 1, stream_seq: head.seq + 2, message: expect.stringContaining('does not have') }])
    expect(sample(await metrics(node), 'os2_alerts_total{kind="stream_divergence"}')).toBe(1)
  })
})
