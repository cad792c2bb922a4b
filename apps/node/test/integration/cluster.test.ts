import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { killNode, sample, spawnNode, until } from '../helpers/node-process.ts'
import type { NodeProcess } from '../helpers/node-process.ts'

/**
 * The local cluster end to end: `deploy/local-cluster/cluster.ts` starts three
 * routed NATS servers and three os2-node processes; the shell attaches with
 * the operator key it generated, memory written on n1 converges on n3, n1's
 * events are read back over NATS with the chain verified, and a node killed
 * with -9 comes back with its ledger and stream intact.
 */
const ROOT = join(import.meta.dirname, '..', '..', '..', '..')
const CLUSTER = join(ROOT, 'deploy', 'local-cluster', 'cluster.ts')
const OS2 = join(ROOT, 'apps', 'shell', 'bin', 'os2.js')
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs')

interface ClusterFile { nats: Array<{ url: string }>, nodes: Array<{ name: string, pid: number, peerId: string, attach: string[], metrics: string }> }

let dir: string
let file: ClusterFile
let restarted: NodeProcess | undefined

async function run (cmd: string[], timeoutMs = 120_000): Promise<{ code: number, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile(process.execPath, cmd, { cwd: dir, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
  })
}

async function os2 (node: string, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  const n = file.nodes.find(x => x.name === node)
  return await run([OS2, '--data-dir', join(dir, 'shell'), '--attach', n?.attach[0] ?? '', '--key', join(dir, 'run', 'operator.key'), ...args])
}

async function ok (node: string, args: string[]): Promise<string> {
  const r = await os2(node, args)
  if (r.code !== 0) throw new Error(`os2 ${args.join(' ')} on ${node} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

async function events (node: string): Promise<Array<{ seq: number, type: string, hash: string }>> {
  const r = await run([OS2, 'events', '--nats', file.nats.map(n => n.url).join(','), '--cluster', 'ct', '--node', node, '--json'])
  expect(r.stderr).toBe('')
  expect(r.code).toBe(0)
  return r.stdout.trim().split('\n').map(l => JSON.parse(l) as { seq: number, type: string, hash: string })
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'os2-cluster-test-'))
  const started = await run([TSX, CLUSTER, 'start', '--nodes', '3', '--dir', join(dir, 'run'), '--name', 'ct'], 240_000)
  if (started.code !== 0) throw new Error(`cluster start failed: ${started.stderr}\n${started.stdout}`)
  expect(started.stdout).toContain('3 nodes ready and federated')
  expect(started.stdout).toMatch(/os2 --attach \/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//)
  file = JSON.parse(readFileSync(join(dir, 'run', 'cluster.json'), 'utf8')) as ClusterFile
}, 300_000)

afterAll(async () => {
  await killNode(restarted)
  await run([TSX, CLUSTER, 'stop', '--dir', join(dir, 'run')], 60_000)
  rmSync(dir, { recursive: true, force: true })
}, 120_000)

describe('local cluster', () => {
  it('memory written on n1 converges on n3, and n1\'s events come back over NATS in order with the chain verified', async () => {
    const peers = file.nodes.map(n => n.peerId)
    for (const node of file.nodes) {
      await ok(node.name, ['cap-grant', '--principal', 'operator', '--capability', 'memory.kv.write', '--namespaces', 'shared'])
      for (const peer of peers) if (peer !== node.peerId) await ok(node.name, ['cap-grant', '--principal', peer, '--capability', 'memory.federate', '--namespaces', 'shared'])
    }
    await ok('n1', ['memory', 'kv', 'put', 'shared', 'greeting', '"hello from n1"'])
    await until('n3 to converge', async () => {
      const r = await os2('n3', ['--json', 'memory', 'show', 'kv', 'shared'])
      return r.code === 0 && JSON.stringify((JSON.parse(r.stdout) as { state: unknown }).state) === JSON.stringify({ greeting: 'hello from n1' })
    }, 90_000)
    await until('n1 stream to hold the memory commit', async () => (await events('n1')).some(e => e.type === 'memory.commit'), 60_000)
    const seen = await events('n1')
    expect(seen.map(e => e.seq)).toEqual([...Array(seen.length).keys()])
    const n3 = await events('n3')
    expect(n3.some(e => e.type === 'federation.verdict')).toBe(true)
  })

  it('a node killed with -9 restarts with its ledger, rejoins federation and continues its stream with no gap', async () => {
    const n2 = file.nodes.find(n => n.name === 'n2') as ClusterFile['nodes'][number]
    await ok('n2', ['cap-grant', '--principal', 'agent', '--capability', 'kernel.state.put'])
    process.kill(n2.pid, 'SIGKILL')
    await until('n2 to die', () => { try { process.kill(n2.pid, 0); return false } catch { return true } })
    restarted = spawnNode(join(dir, 'run', 'n2', 'node.toml'))
    const status = await restarted.ready
    expect(status.ledgerSize).toBeGreaterThan(0)
    n2.attach = status.attach
    await ok('n2', ['cap-grant', '--principal', 'agent2', '--capability', 'kernel.state.put'])
    await until('n2 to federate again', async () => sample(await (await fetch(`http://${status.metrics}/metrics`)).text(), 'os2_federation_peers') >= 1, 60_000)
    await until('n2 stream to catch up', async () => sample(await (await fetch(`http://${status.metrics}/metrics`)).text(), 'os2_nats_publish_lag') === 0 &&
      sample(await (await fetch(`http://${status.metrics}/metrics`)).text(), 'os2_nats_published_seq') > status.ledgerSize, 60_000)
    const seen = await events('n2')
    expect(seen.map(e => e.seq)).toEqual([...Array(seen.length).keys()])
    expect(seen.length).toBeGreaterThan(status.ledgerSize)
  })
})
