import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair } from '@os2/crypto'
import { dialKernel, nodeIdentity } from '@os2/federation'
import type { KernelClient } from '@os2/federation'
import type { EventEnvelope } from '@os2/kernel'
import { verifyLedgerDir } from '@os2/kernel/node'
import { eventStream, subscribeEvents } from '../../src/nats/index.ts'
import type { StreamAlert } from '../../src/nats/index.ts'
import { freePort, startNatsServer } from '../../src/nats-server.ts'
import type { NatsServerProcess } from '../../src/nats-server.ts'
import { killNode, sample, spawnNode, until, writeConfig } from '../helpers/node-process.ts'
import type { NodeProcess } from '../helpers/node-process.ts'

let dir: string
let nats: NatsServerProcess
let nc: NatsConnection
const operator = nodeIdentity(generateKeyPair())
const running: NodeProcess[] = []
const clients: KernelClient[] = []

function config (name: string, extra = ''): string {
  return writeConfig(dir, name, `cluster = "t"
node = "${name}"
data_dir = "${join(dir, name)}"
seed = 11
[nats]
servers = ["${nats.url}"]
[attach]
operators = ["${operator.peerId}"]
[metrics]
address = "127.0.0.1:0"
[log]
level = "info"
${extra}`)
}

function start (name: string): NodeProcess {
  const node = spawnNode(config(name))
  running.push(node)
  return node
}

async function attach (node: NodeProcess): Promise<KernelClient> {
  const status = await node.ready
  const client = await dialKernel(status.attach[0] as string, { privateKey: operator.libp2pKey })
  clients.push(client)
  return client
}

let tokenCounter = 0
async function work (client: KernelClient, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `w${++tokenCounter}`
    await client.call('handle', { request: { type: 'SubmitToken', token: { id, capability: 'kernel.state.put', principal: 'agent', args: { namespace: 'n', key: id, value: i } } } })
  }
  await client.call('runUntilIdle')
}

async function grant (client: KernelClient): Promise<void> {
  await client.call('handle', { request: { type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } } })
}

async function http (node: NodeProcess, path: string): Promise<{ status: number, text: string }> {
  const res = await fetch(`http://${(await node.ready).metrics}${path}`)
  return { status: res.status, text: await res.text() }
}

async function streamSize (name: string): Promise<number> {
  const jsm = await jetstreamManager(nc)
  return await jsm.streams.info(eventStream('t', name)).then(i => i.state.messages, () => 0)
}

async function readStream (name: string): Promise<{ events: EventEnvelope[], alerts: StreamAlert[], duplicates: number }> {
  const events: EventEnvelope[] = []
  const alerts: StreamAlert[] = []
  const sub = await subscribeEvents(nc, { cluster: 't', nodes: [name], onEvent: (_n, e) => { events.push(e) }, onAlert: a => { alerts.push(a) } })
  await sub.done
  return { events, alerts, duplicates: sub.stats().duplicates }
}

async function ledgerOnDisk (name: string): Promise<number> {
  const r = await verifyLedgerDir(join(dir, name, 'ledger'))
  expect(r.ok).toBe(true)
  return r.size
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'os2-node-'))
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

describe('os2-node', () => {
  it('`os2-node` exits 2 naming the field for a bad config, without a stack trace', async () => {
    const node = spawnNode(writeConfig(dir, 'bad', 'cluster = "t"\nnode = "x"\ndata_dir = "/tmp/x"\n[nats]\nservers = ["localhost"]\n'))
    const { code } = await node.exited
    expect(code).toBe(2)
    expect(node.stderr()).toMatch(/^os2-node: Invalid .*bad\.toml: nats\.servers\[0\] must be a URL/)
    expect(node.stderr()).not.toMatch(/\n\s+at /)
    const missing = spawnNode(join(dir, 'nope.toml'))
    expect((await missing.exited).code).toBe(2)
    expect(missing.stderr()).toContain('Cannot read config')
  })

  it('`os2-node` serves metrics that move under a workload, /healthz and /readyz, and fans every event out in order', async () => {
    const node = start('m')
    const client = await attach(node)
    expect((await http(node, '/healthz')).status).toBe(200)
    await until('readyz', async () => (await http(node, '/readyz')).status === 200)
    expect(JSON.parse((await http(node, '/readyz')).text)).toMatchObject({ status: 'ready', checks: { kernel: 'open', federation: 'listening', nats: 'connected' } })
    await grant(client)
    await work(client, 10)
    await until('metrics to see the first tokens', async () => sample((await http(node, '/metrics')).text, 'os2_tokens_total{outcome="completed"}') >= 10)
    const before = (await http(node, '/metrics')).text
    await work(client, 15)
    await client.call('snapshotCreate', { label: 'm1' })
    // A token without a grant: a capability violation.
    await client.call('handle', { request: { type: 'SubmitToken', token: { id: 'nogrant', capability: 'kernel.state.put', principal: 'mallory', args: { namespace: 'n', key: 'k', value: 1 } } } })
    await client.call('runUntilIdle')
    const violations = (text: string): number => [...text.matchAll(/^os2_capability_violations_total\{reason="[^"]+"\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0)
    await until('metrics to move', async () => {
      const text = (await http(node, '/metrics')).text
      return sample(text, 'os2_tokens_total{outcome="completed"}') >= 25 && violations(text) > 0
    })
    const after = (await http(node, '/metrics')).text
    expect(sample(after, 'os2_tokens_total{outcome="completed"}')).toBeGreaterThan(sample(before, 'os2_tokens_total{outcome="completed"}'))
    expect(sample(after, 'os2_capability_latency_ticks_count{capability="kernel.state.put"}')).toBeGreaterThanOrEqual(25)
    expect(sample(after, 'os2_snapshot_duration_seconds_count')).toBe(1)
    expect(violations(after)).toBe(violations(before) + 1)
    expect(after).toMatch(/os2_nats_publish_lag \d+/)
    expect(node.lines.some(l => l.alert === 'capability_violation')).toBe(true)
    const view = await client.call<{ ledger: { size: number } }>('view')
    await until('the stream to catch up', async () => await streamSize('m') >= view.ledger.size)
    const { events, alerts, duplicates } = await readStream('m')
    expect(alerts).toEqual([])
    expect(duplicates).toBe(0)
    expect(events.map(e => e.seq)).toEqual([...Array(view.ledger.size).keys()])
  })

  it('`os2 events` prints a node\'s verified events from --since over NATS', async () => {
    const expected = await readStream('m')
    expect(expected.events.length).toBeGreaterThan(10)
    const os2 = join(import.meta.dirname, '..', '..', '..', 'shell', 'bin', 'os2.js')
    const run = async (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => await new Promise(resolve => {
      execFile(process.execPath, [os2, ...args], { cwd: dir }, (err, stdout, stderr) => { resolve({ code: err === null ? 0 : (err as { code?: number }).code ?? 1, stdout, stderr }) })
    })
    const r = await run(['events', '--nats', nats.url, '--cluster', 't', '--node', 'm', '--since', '5', '--json'])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    const lines = r.stdout.trim().split('\n').map(l => JSON.parse(l) as EventEnvelope & { node: string })
    expect(lines.map(l => l.hash)).toEqual(expected.events.slice(5).map(e => e.hash))
    expect(lines[0]?.node).toBe('m')
    const usage = await run(['events', '--cluster', 't'])
    expect(usage.code).toBe(2)
  })

  it('`os2-node` starts, works and stops cleanly while NATS is unreachable, reporting degraded_buffering', async () => {
    const port = await freePort()
    const node = spawnNode(writeConfig(dir, 'd', `cluster = "t"\nnode = "d"\ndata_dir = "${join(dir, 'd')}"\n[nats]\nservers = ["nats://127.0.0.1:${port}"]\n[attach]\noperators = ["${operator.peerId}"]\n[metrics]\naddress = "127.0.0.1:0"\n`))
    running.push(node)
    const client = await attach(node)
    await grant(client)
    await work(client, 5)
    const ready = await http(node, '/readyz')
    expect(ready.status).toBe(200)
    expect(JSON.parse(ready.text)).toMatchObject({ checks: { nats: 'degraded_buffering' } })
    const view = await client.call<{ ledger: { size: number } }>('view')
    await until('the lag to show the backlog', async () => sample((await http(node, '/metrics')).text, 'os2_nats_publish_lag') === view.ledger.size)
    const t0 = Date.now()
    node.child.kill('SIGTERM')
    expect((await node.exited).code).toBe(0)
    expect(Date.now() - t0).toBeLessThan(20_000)
    expect(await ledgerOnDisk('d')).toBe(view.ledger.size)
  })

  it('`os2-node` stops its components in reverse order on SIGTERM with the ledger flushed', async () => {
    const node = start('s')
    const client = await attach(node)
    await grant(client)
    await work(client, 20)
    const view = await client.call<{ ledger: { size: number, head: string } }>('view')
    node.child.kill('SIGTERM')
    const { code } = await node.exited
    expect(code).toBe(0)
    const started = node.lines.filter(l => typeof l.msg === 'string' && (l.msg as string).endsWith(' started')).map(l => l.component)
    const stopped = node.lines.filter(l => typeof l.msg === 'string' && (l.msg as string).endsWith(' stopped') && l.component !== undefined).map(l => l.component)
    expect(started).toEqual(['kernel', 'metrics feed', 'federation', 'attach', 'nats publisher', 'nats watcher', 'http'])
    expect(stopped).toEqual([...started].reverse())
    expect(node.lines.find(l => l.msg === 'ledger flushed')).toMatchObject({ ledgerSize: view.ledger.size, head: view.ledger.head })
    expect(await ledgerOnDisk('s')).toBe(view.ledger.size)
    expect(await streamSize('s')).toBe(view.ledger.size)
  })

  it('`os2-node` killed with -9 recovers its ledger on restart and continues the stream with no gap and no duplicate', async () => {
    const first = start('k')
    const client = await attach(first)
    await grant(client)
    await work(client, 20)
    let busy = true
    const load = (async () => { while (busy) await work(client, 5) })().catch(() => undefined)
    await until('some events in the stream', async () => await streamSize('k') > 50)
    first.child.kill('SIGKILL')
    busy = false
    await first.exited
    await load
    const second = start('k')
    const again = await attach(second)
    expect((await second.ready).ledgerSize).toBe(await ledgerOnDisk('k'))
    await work(again, 20)
    const view = await again.call<{ ledger: { size: number } }>('view')
    await until('the stream to catch up after restart', async () => await streamSize('k') >= view.ledger.size)
    const { events, alerts, duplicates } = await readStream('k')
    expect(alerts).toEqual([])
    expect(duplicates).toBe(0)
    expect(events.map(e => e.seq)).toEqual([...Array(view.ledger.size).keys()])
    expect(await streamSize('k')).toBe(view.ledger.size)
  })
})
