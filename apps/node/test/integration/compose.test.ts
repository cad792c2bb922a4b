import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { freePort } from '../../src/nats-server.ts'
import { until } from '../helpers/node-process.ts'

/**
 * deploy/compose.yaml really run: `config` validates it with the Compose
 * implementation installed here (`docker compose` v2 or the Debian
 * `docker-compose` 1.29), then `up -d` starts NATS and three nodes from the
 * locally built images (nothing pulled), every node answers /healthz with the
 * peer id deploy/compose-env.ts derived for it, and `down -v` removes it all.
 * Host ports are free ones picked here (OS2_PORT_* in the compose file).
 */
const ROOT = resolve(import.meta.dirname, '..', '..', '..', '..')
const COMPOSE_FILE = join(ROOT, 'deploy', 'compose.yaml')
const PROJECT = 'os2-compose-test'
const NODES = ['a', 'b', 'c'] as const

interface Run { code: number, stdout: string, stderr: string }

let dir: string
let compose: string[] = []
let envFile: string
const env: Record<string, string> = {}

async function run (cmd: string, args: string[], timeoutMs = 120_000): Promise<Run> {
  return await new Promise(resolve => {
    execFile(cmd, args, { cwd: ROOT, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

async function dc (args: string[], timeoutMs?: number): Promise<Run> {
  const [cmd, ...pre] = compose as [string, ...string[]]
  return await run(cmd, [...pre, '--env-file', envFile, '-p', PROJECT, '-f', COMPOSE_FILE, ...args], timeoutMs)
}

/** `docker compose` (v2) when the plugin is there, else `docker-compose` (v1), else a clear error naming the install command. */
async function findCompose (): Promise<string[]> {
  if ((await run('docker', ['compose', 'version'])).code === 0) return ['docker', 'compose']
  if ((await run('docker-compose', ['version'])).code === 0) return ['docker-compose']
  throw new Error('Docker Compose is required for the compose suite: apt-get install -y docker-compose')
}

beforeAll(async () => {
  const info = await run('docker', ['info'])
  if (info.code !== 0) throw new Error(`Docker is required for the compose suite: apt-get install -y docker.io, then start dockerd (${info.stderr.trim().split('\n')[0] ?? ''})`)
  compose = await findCompose()
  dir = mkdtempSync(join(tmpdir(), 'os2-compose-'))
  // The grants and bootstrap lists compose cannot compute, as the docs say to make them.
  const generated = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'deploy', 'compose-env.ts')])
  if (generated.code !== 0) throw new Error(`compose-env.ts failed: ${generated.stderr}`)
  envFile = join(dir, 'compose.env')
  writeFileSync(envFile, generated.stdout)
  for (const name of ['NATS', 'NATS_HTTP', 'HTTP_A', 'HTTP_B', 'HTTP_C', 'P2P_A', 'P2P_B', 'P2P_C']) env[`OS2_PORT_${name}`] = String(await freePort())
  // A run that died before `down` leaves its network (fixed subnet) behind: clear it first.
  await dc(['down', '-v', '--remove-orphans'])
  // The images, built locally (a hash check when they are up to date).
  const built = await run(join(ROOT, 'deploy', 'build-images.sh'), [], 600_000)
  if (built.code !== 0) throw new Error(`build-images.sh failed: ${built.stderr}`)
}, 660_000)

afterAll(async () => {
  if (compose.length > 0 && envFile !== undefined) {
    const down = await dc(['down', '-v', '--remove-orphans'])
    if (down.code !== 0) console.error(`compose down failed: ${down.stderr}`)
  }
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
}, 60_000)

describe('deploy/compose.yaml', () => {
  it('`compose config` accepts the file and lists NATS and three nodes from local images that are never pulled', async () => {
    const valid = await dc(['config', '-q'])
    expect(valid.stderr).toBe('')
    expect(valid.code).toBe(0)
    const services = await dc(['config', '--services'])
    expect(services.stdout.trim().split('\n').sort()).toEqual(['nats', 'node-a', 'node-b', 'node-c'])
    const full = (await dc(['config'])).stdout
    expect(full).toContain('image: os2/node:local')
    expect(full).toContain('image: os2/nats:local')
    expect(full.match(/pull_policy: never/g)).toHaveLength(4)
    expect(full).toContain(`127.0.0.1:${env.OS2_PORT_HTTP_A}:8080`)
  })

  it('`compose up -d` starts the cluster from the locally built images, every node answers /healthz, and `down` removes it', async () => {
    const up = await dc(['up', '-d'], 120_000)
    if (up.code !== 0) throw new Error(`compose up failed: ${up.stderr}`)
    const expected = Object.fromEntries(NODES.map(n => [n, new RegExp(`^OS2_PEERS_${n.toUpperCase()}=(.*)$`, 'm').exec(readFileSync(envFile, 'utf8'))?.[1] ?? '']))
    const health: Record<string, { ready: boolean, peerId: string }> = {}
    for (const n of NODES) {
      const port = env[`OS2_PORT_HTTP_${n.toUpperCase()}`] as string
      await until(`node-${n} /healthz`, async () => {
        const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) }).catch(() => null)
        if (res?.status !== 200) return false
        health[n] = await res.json() as { ready: boolean, peerId: string }
        return true
      }, 90_000)
    }
    // Each node's peer id is the one the other nodes bootstrap to (derived from its OS2_KEY_SEED).
    for (const n of NODES) {
      expect(health[n]?.ready).toBe(true)
      const others = NODES.filter(o => o !== n)
      for (const o of others) expect(expected[o]).toContain(`/p2p/${health[n]?.peerId ?? '?'}`)
    }
    const ps = await dc(['ps', '-q'])
    expect(ps.stdout.trim().split('\n')).toHaveLength(4)
    const down = await dc(['down', '-v', '--remove-orphans'], 120_000)
    expect(down.code).toBe(0)
    expect((await dc(['ps', '-q'])).stdout.trim()).toBe('')
  }, 100_000)
})
