import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { GenericContainer, Network, Wait } from 'testcontainers'
import type { StartedNetwork, StartedTestContainer } from 'testcontainers'
import { keyPairFromSeed } from '@os2/crypto'
import { nodeIdentity } from '@os2/federation'

/**
 * The cluster in locally built images (deploy/build-images.sh: FROM scratch,
 * nothing pulled): NATS plus three nodes on a user-defined docker network.
 * Memories written on one node converge on the others; a node cut off the
 * network (docker network disconnect) keeps working, and once reconnected
 * every write on both sides converges, none lost.
 */
process.env.TESTCONTAINERS_RYUK_DISABLED = 'true'
const run = promisify(execFile)
const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../../..')
const NODE_IMAGE = 'os2/node:local'
const NATS_IMAGE = 'os2/nats:local'
const SEEDS = { a: 'containers-a', b: 'containers-b', c: 'containers-c' } as const
type Name = keyof typeof SEEDS
const peerIdOf = (seed: string): string => nodeIdentity(keyPairFromSeed(createHash('sha256').update(seed).digest())).peerId
const operator = keyPairFromSeed(new Uint8Array(32).fill(3))

let network: StartedNetwork
let nats: StartedTestContainer
const nodes = new Map<Name, StartedTestContainer>()
/** Each node's own control network (its HTTP port is published there), so cutting it off the cluster network keeps it controllable. */
const control = new Map<Name, StartedNetwork>()
const clusterIp = new Map<Name, string>()
/** Read after `docker network connect`, which re-publishes ports (the mapping testcontainers saw at start goes stale). */
const controlUrl = new Map<Name, string>()

async function rpc<T = unknown> (name: Name, body: Record<string, unknown>): Promise<T> {
  const c = nodes.get(name)
  if (c === undefined) throw new Error(`no node ${name}`)
  const res = await fetch(`${controlUrl.get(name) ?? ''}/rpc`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) })
  const answer = await res.json() as { ok: boolean, result?: T, error?: unknown }
  if (!answer.ok) throw new Error(`${name} ${String(body.op)}: ${JSON.stringify(answer.error)}`)
  return answer.result as T
}

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

type State = { memories: Record<string, Record<string, unknown>>, hash: string }
const state = async (name: Name): Promise<State> => await rpc<State>(name, { op: 'state' })

async function converged (names: Name[], namespace: string, count: number): Promise<boolean> {
  const states = await Promise.all(names.map(state))
  const first = states[0]
  return first !== undefined && Object.keys(first.memories[`kv:${namespace}`] ?? {}).length === count && states.every(s => s.hash === first.hash)
}

async function startNode (name: Name, peers: string[]): Promise<StartedTestContainer> {
  const grants = Object.entries(SEEDS).map(([n, seed]) => ({
    id: `grant-${n}`, principal: peerIdOf(seed), capability: 'memory.federate', scope: { namespaces: ['*'] },
    validFrom: 0, validUntil: null, version: 1, revoked: false, issuer: operator.publicKey
  }))
  const own = await new Network().start()
  control.set(name, own)
  const container = await new GenericContainer(NODE_IMAGE)
    .withNetwork(own)
    .withEnvironment({ OS2_KEY_SEED: SEEDS[name], OS2_GRANTS_JSON: JSON.stringify({ grants }), OS2_PEERS: peers.join(','), OS2_INTERVAL_MS: '300' })
    .withExposedPorts(8080)
    .withWaitStrategy(Wait.forHttp('/healthz', 8080).forStatusCode(200))
    .withStartupTimeout(180_000)
    .start()
  nodes.set(name, container)
  await run('docker', ['network', 'connect', '--alias', `node-${name}`, network.getName(), container.getId()], { timeout: 60_000 })
  clusterIp.set(name, await ipOn(container))
  await refreshControl(name)
  return container
}

/** Docker re-publishes a container's ports whenever its networks change: read the control port again. */
async function refreshControl (name: Name): Promise<void> {
  const container = nodes.get(name) as StartedTestContainer
  await waitFor(`node ${name} control port`, async () => {
    const { stdout } = await run('docker', ['port', container.getId(), '8080/tcp'], { timeout: 60_000 })
    const published = /:(\d+)\s*$/m.exec(stdout.split('\n')[0] ?? '')
    if (published?.[1] === undefined) return false
    controlUrl.set(name, `http://${container.getHost()}:${published[1]}`)
    return (await fetch(`${controlUrl.get(name) ?? ''}/healthz`, { signal: AbortSignal.timeout(5_000) })).ok
  }, 60_000)
}

async function ipOn (container: StartedTestContainer): Promise<string> {
  const { stdout } = await run('docker', ['inspect', '-f', `{{(index .NetworkSettings.Networks "${network.getName()}").IPAddress}}`, container.getId()], { timeout: 60_000 })
  const ip = stdout.trim()
  if (!/^\d+\.\d+\.\d+\.\d+$/.test(ip)) throw new Error(`container ${container.getId()} has no address on ${network.getName()}: ${ip}`)
  return ip
}

const addrOf = (name: Name): string => `/ip4/${clusterIp.get(name) ?? ''}/tcp/4001/p2p/${peerIdOf(SEEDS[name])}`

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
  await startNode('b', [addrOf('a')])
  await startNode('c', [addrOf('a'), addrOf('b')])
}, 1_200_000)

afterAll(async () => {
  for (const c of nodes.values()) await c.stop({ timeout: 5_000 }).catch(() => undefined)
  await nats?.stop({ timeout: 5_000 }).catch(() => undefined)
  await network?.stop().catch(() => undefined)
  for (const n of control.values()) await n.stop().catch(() => undefined)
}, 120_000)

describe('containers', () => {
  it('the NATS image serves clients on the cluster network', async () => {
    const info = await new Promise<string>((resolve, reject) => {
      const socket = connect(nats.getMappedPort(4222), nats.getHost())
      socket.setTimeout(10_000, () => { socket.destroy(new Error('no INFO from nats')) })
      socket.once('data', (d: Buffer) => { socket.end(); resolve(d.toString('utf8')) })
      socket.once('error', reject)
    })
    expect(info).toMatch(/^INFO \{.*"jetstream":true/)
  }, 60_000)

  it('memories written on node a converge on b and c', async () => {
    for (let i = 0; i < 20; i++) await rpc('a', { op: 'kv.put', namespace: 'notes', key: `k${i}`, value: { i } })
    await waitFor('b and c to converge on a\'s 20 writes', async () => await converged(['a', 'b', 'c'], 'notes', 20))
    expect((await state('c')).memories['kv:notes']?.k7).toEqual({ i: 7 })
  }, 300_000)

  it('a node disconnected from the network and reconnected converges with no write lost', async () => {
    const c = nodes.get('c') as StartedTestContainer
    await run('docker', ['network', 'disconnect', network.getName(), c.getId()], { timeout: 60_000 })
    await refreshControl('c')
    try {
      for (let i = 0; i < 10; i++) {
        await rpc('a', { op: 'kv.put', namespace: 'split', key: `a${i}`, value: i })
        await rpc('c', { op: 'kv.put', namespace: 'split', key: `c${i}`, value: i })
      }
      await waitFor('b to get a\'s writes during the partition', async () => Object.keys((await state('b')).memories['kv:split'] ?? {}).length === 10)
      // Cut off: neither side has the other's writes.
      expect(Object.keys((await state('b')).memories['kv:split'] ?? {}).every(k => k.startsWith('a'))).toBe(true)
      expect(Object.keys((await state('c')).memories['kv:split'] ?? {}).every(k => k.startsWith('c'))).toBe(true)
    } finally {
      await run('docker', ['network', 'connect', network.getName(), c.getId()], { timeout: 60_000 })
      await refreshControl('c')
    }
    await waitFor('all three to converge on 20 writes after the reconnect', async () => await converged(['a', 'b', 'c'], 'split', 20))
    const split = (await state('a')).memories['kv:split'] ?? {}
    for (let i = 0; i < 10; i++) {
      expect(split[`a${i}`]).toBe(i)
      expect(split[`c${i}`]).toBe(i)
    }
    expect(await converged(['a', 'b', 'c'], 'notes', 20)).toBe(true)
  }, 300_000)
})
