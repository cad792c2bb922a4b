import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { connect } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { GenericContainer, Network, Wait } from 'testcontainers'
import type { StartedNetwork, StartedTestContainer } from 'testcontainers'
import { canonicalize, generateKeyPair } from '@os2/crypto'
import { createRemoteKernel, dialKernel, nodeIdentity } from '@os2/federation'
import type { RemoteKernel } from '@os2/federation'

/**
 * The cluster in locally built images (deploy/build-images.sh: FROM scratch,
 * nothing pulled): NATS plus three `os2-node` daemons on a user-defined docker
 * network, driven from the host through the kernel protocol (the test's key
 * is an attach operator in every node.toml). Memories written on one node
 * converge on the others; a node cut off the network (docker network
 * disconnect) keeps working, and once reconnected every write on both sides
 * converges, none lost.
 */
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'
const run = promisify(execFile)
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..')
const NODE_IMAGE = 'os2/node:local'
const NATS_IMAGE = 'os2/nats:local'
const NAMES = ['a', 'b', 'c'] as const
type Name = typeof NAMES[number]
const operator = nodeIdentity(generateKeyPair())

let network: StartedNetwork
let nats: StartedTestContainer
const nodes = new Map<Name, StartedTestContainer>()
/** Each node's own network, where its ports are published, so cutting it off the cluster network keeps it reachable from the host. */
const control = new Map<Name, StartedNetwork>()
const clusterIp = new Map<Name, string>()
const peerId = new Map<Name, string>()
const attachAddr = new Map<Name, string>()

async function waitFor (what: string, check: () => Promise<boolean>, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch (err) {
      last = err
    }
    await new Promise(resolve => setTimeout(resolve, 500))
  }
  throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`)
}

/** One attached operator session per call: submit a token, run it, return its result. */
async function invoke (name: Name, capability: string, args: Record<string, unknown>): Promise<unknown> {
  const remote = await attach(name)
  try {
    const id = `${capability.replace(/\./g, '-')}-${remote.ledger.size}`
    const res = await remote.handle({ type: 'SubmitToken', token: { id, capability, principal: remote.genesis.operator, args } })
    if (res.disposition === 'rejected') throw new Error(`${name} ${capability}: ${JSON.stringify(res.error)}`)
    await remote.runUntilIdle()
    const status = remote.token(id)
    if (status?.state !== 'completed') throw new Error(`${name} ${capability}: ${JSON.stringify(status)}`)
    return status.result
  } finally {
    await remote.close()
  }
}

async function attach (name: Name): Promise<RemoteKernel> {
  return await createRemoteKernel(await dialKernel(attachAddr.get(name) ?? '', { privateKey: operator.libp2pKey, dialTimeoutMs: 20_000 }))
}

async function grant (name: Name, principal: string, capability: string): Promise<void> {
  const remote = await attach(name)
  try {
    const res = await remote.handle({ type: 'GrantCapability', grant: { principal, capability, scope: { namespaces: ['*'] } } })
    if (res.disposition === 'rejected') throw new Error(`${name} grant ${capability}: ${JSON.stringify(res.error)}`)
  } finally {
    await remote.close()
  }
}

const kvState = async (name: Name, namespace: string): Promise<Record<string, unknown>> =>
  ((await invoke(name, 'memory.show', { kind: 'kv', namespace })) as { state: Record<string, unknown> | null }).state ?? {}

async function converged (namespace: string, count: number): Promise<boolean> {
  const states = await Promise.all(NAMES.map(async n => canonicalize(await kvState(n, namespace) as never)))
  return Object.keys(JSON.parse(states[0] ?? '{}') as object).length === count && states.every(s => s === states[0])
}

/** Docker re-publishes a container's ports whenever its networks change: read the attach port again. */
async function refreshAttach (name: Name): Promise<void> {
  const container = nodes.get(name) as StartedTestContainer
  await waitFor(`node ${name} attach port`, async () => {
    const { stdout } = await run('docker', ['port', container.getId(), '4002/tcp'], { timeout: 60_000 })
    const published = /:(\d+)\s*$/m.exec(stdout.split('\n')[0] ?? '')
    if (published?.[1] === undefined) return false
    attachAddr.set(name, `/ip4/127.0.0.1/tcp/${published[1]}/p2p/${peerId.get(name) ?? ''}`)
    const remote = await attach(name)
    await remote.close()
    return true
  }, 90_000)
}

async function startNode (name: Name, bootstrap: Name[]): Promise<void> {
  const own = await new Network().start()
  control.set(name, own)
  const toml = [
    'cluster = "containers"', `node = "${name}"`, 'data_dir = "/data"', 'seed = "containers"',
    '[federation]', 'listen = ["/ip4/0.0.0.0/tcp/4001"]', 'anti_entropy_ms = 300',
    `bootstrap = [${bootstrap.map(b => `"/ip4/${clusterIp.get(b) ?? ''}/tcp/4001/p2p/${peerId.get(b) ?? ''}"`).join(', ')}]`,
    '[nats]', 'servers = ["nats://nats:4222"]',
    '[attach]', 'listen = ["/ip4/0.0.0.0/tcp/4002"]', `operators = ["${operator.peerId}"]`,
    '[metrics]', 'address = "0.0.0.0:9464"'
  ].join('\n') + '\n'
  const container = await new GenericContainer(NODE_IMAGE)
    .withNetwork(own)
    .withEntrypoint(['/usr/bin/node', '/app/apps/node/bin/os2-node.js'])
    .withCommand(['--config', '/config/node.toml'])
    .withCopyContentToContainer([{ content: toml, target: '/config/node.toml', mode: 0o644 }])
    .withExposedPorts(4002, 9464)
    .withWaitStrategy(Wait.forLogMessage(/"msg":"node ready"/))
    .withStartupTimeout(180_000)
    .start()
  nodes.set(name, container)
  const { stdout } = await run('docker', ['logs', container.getId()], { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 })
  const ready = stdout.split('\n').map(l => { try { return JSON.parse(l) as { msg?: string, peerId?: string } } catch { return {} } }).find(m => m.msg === 'node ready')
  if (ready?.peerId === undefined) throw new Error(`node ${name} logged no peer id`)
  peerId.set(name, ready.peerId)
  await run('docker', ['network', 'connect', '--alias', `node-${name}`, network.getName(), container.getId()], { timeout: 60_000 })
  const { stdout: ip } = await run('docker', ['inspect', '-f', `{{(index .NetworkSettings.Networks "${network.getName()}").IPAddress}}`, container.getId()], { timeout: 60_000 })
  clusterIp.set(name, ip.trim())
  await refreshAttach(name)
}

beforeAll(async () => {
  try {
    await run('docker', ['info'], { timeout: 30_000 })
  } catch (err) {
    throw new Error(`Docker is required for the container suite: apt-get install -y docker.io, then start dockerd (${(err as Error).message})`, { cause: err })
  }
  // Cached by input hash: a rebuild only when sources or binaries changed.
  await run(join(REPO, 'deploy/build-images.sh'), [], { cwd: REPO, timeout: 900_000, maxBuffer: 16 * 1024 * 1024 })
  network = await new Network().start()
  nats = await new GenericContainer(NATS_IMAGE)
    .withNetwork(network)
    .withNetworkAliases('nats')
    .withExposedPorts(4222)
    .withWaitStrategy(Wait.forLogMessage(/Server is ready/))
    .withStartupTimeout(60_000)
    .start()
  await startNode('a', [])
  await startNode('b', ['a'])
  await startNode('c', ['a', 'b'])
  // Every node lets the other two merge its memories, and the operator use them.
  for (const n of NAMES) {
    for (const other of NAMES) if (other !== n) await grant(n, peerId.get(other) ?? '', 'memory.federate')
    for (const cap of ['memory.kv.write', 'memory.show']) await grant(n, 'operator', cap)
  }
}, 1_200_000)

afterAll(async () => {
  for (const c of nodes.values()) await c.stop({ timeout: 10_000 }).catch(() => undefined)
  await nats?.stop({ timeout: 5_000 }).catch(() => undefined)
  await network?.stop().catch(() => undefined)
  for (const n of control.values()) await n.stop().catch(() => undefined)
}, 120_000)

describe('containers (os2-node)', () => {
  it('the NATS image serves JetStream clients', async () => {
    const info = await new Promise<string>((resolve, reject) => {
      const socket = connect(nats.getMappedPort(4222), nats.getHost())
      socket.setTimeout(10_000, () => { socket.destroy(new Error('no INFO from nats')) })
      socket.once('data', (d: Buffer) => { socket.end(); resolve(d.toString('utf8')) })
      socket.once('error', reject)
    })
    expect(info).toMatch(/^INFO \{.*"jetstream":true/)
  }, 60_000)

  it('memories written on node a converge on b and c', async () => {
    await invoke('a', 'memory.kv.write', { namespace: 'notes', set: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, { i }])) })
    await waitFor('b and c to converge on a\'s writes', async () => await converged('notes', 20))
    expect((await kvState('c', 'notes')).k7).toEqual({ i: 7 })
  }, 300_000)

  it('a node disconnected from the network and reconnected converges with no write lost', async () => {
    const c = nodes.get('c') as StartedTestContainer
    await run('docker', ['network', 'disconnect', network.getName(), c.getId()], { timeout: 60_000 })
    await refreshAttach('c')
    try {
      for (let i = 0; i < 5; i++) {
        await invoke('a', 'memory.kv.write', { namespace: 'split', set: { [`a${i}`]: i } })
        await invoke('c', 'memory.kv.write', { namespace: 'split', set: { [`c${i}`]: i } })
      }
      await waitFor('b to get a\'s writes during the partition', async () => Object.keys(await kvState('b', 'split')).length === 5)
      expect(Object.keys(await kvState('b', 'split')).every(k => k.startsWith('a'))).toBe(true)
      expect(Object.keys(await kvState('c', 'split')).every(k => k.startsWith('c'))).toBe(true)
    } finally {
      await run('docker', ['network', 'connect', network.getName(), c.getId()], { timeout: 60_000 })
      await refreshAttach('c')
    }
    await waitFor('all three to converge on 10 writes after the reconnect', async () => await converged('split', 10))
    const split = await kvState('a', 'split')
    for (let i = 0; i < 5; i++) {
      expect(split[`a${i}`]).toBe(i)
      expect(split[`c${i}`]).toBe(i)
    }
    expect(await converged('notes', 20)).toBe(true)
  }, 400_000)
})
