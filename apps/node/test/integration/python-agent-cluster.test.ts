import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { envelopeHash } from '@os2/kernel'
import type { EventEnvelope } from '@os2/kernel'
import { until } from '../helpers/node-process.ts'

/**
 * The must-show on the local cluster (`deploy/local-cluster/cluster.ts`:
 * three routed NATS servers, three os2-node processes): a Python agent on
 * node A (n1), run with `os2 --attach n1 python agent.py`, writes kv and
 * episodic memories through `os2.memory` and emits events; node C's (n3)
 * memories converge through federation; a shell attached to node B (n2)
 * reads A's events through NATS, in order, and every hash verifies and
 * matches A's own ledger.
 */
const ROOT = join(import.meta.dirname, '..', '..', '..', '..')
const CLUSTER = join(ROOT, 'deploy', 'local-cluster', 'cluster.ts')
const OS2 = join(ROOT, 'apps', 'shell', 'bin', 'os2.js')
const TSX = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs')
const NAME = 'pyagent'

interface ClusterFile { nats: Array<{ url: string }>, nodes: Array<{ name: string, pid: number, peerId: string, attach: string[], metrics: string }> }
interface Result { code: number, stdout: string, stderr: string }

let dir: string
let file: ClusterFile

async function run (cmd: string[], options: { timeoutMs?: number, stdin?: string } = {}): Promise<Result> {
  return await new Promise(resolve => {
    const child = execFile(process.execPath, cmd, { cwd: dir, timeout: options.timeoutMs ?? 120_000, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1, stdout, stderr })
    })
    if (options.stdin !== undefined) child.stdin?.end(options.stdin)
  })
}

function attached (node: string): string[] {
  const n = file.nodes.find(x => x.name === node)
  return [OS2, '--data-dir', join(dir, 'shell'), '--attach', n?.attach[0] ?? '', '--key', join(dir, 'run', 'operator.key')]
}

async function ok (node: string, args: string[]): Promise<string> {
  const r = await run([...attached(node), ...args])
  if (r.code !== 0) throw new Error(`os2 ${args.join(' ')} on ${node} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

const natsArgs = (): string[] => ['--nats', file.nats.map(n => n.url).join(','), '--cluster', NAME]

const AGENT = `
import os2, sys
agent = sys.argv[1]
os2.memory.put('agent', 'status', 'thinking')
for i in range(3):
    os2.memory.append('agent', {'agent': agent, 'step': i, 'note': f'observation {i}'})
    os2.emit('agent.step', {'step': i})
os2.memory.put('agent', 'status', 'done')
print('status', os2.memory.get('agent', 'status'), 'episodes', len(os2.memory.events('agent')))
`

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'os2-pyagent-cluster-'))
  const started = await run([TSX, CLUSTER, 'start', '--nodes', '3', '--dir', join(dir, 'run'), '--name', NAME], { timeoutMs: 240_000 })
  if (started.code !== 0) throw new Error(`cluster start failed: ${started.stderr}\n${started.stdout}`)
  file = JSON.parse(readFileSync(join(dir, 'run', 'cluster.json'), 'utf8')) as ClusterFile
}, 300_000)

afterAll(async () => {
  if (dir === undefined) return
  await run([TSX, CLUSTER, 'stop', '--dir', join(dir, 'run')], { timeoutMs: 60_000 })
  rmSync(dir, { recursive: true, force: true })
}, 120_000)

describe('a Python agent on the local cluster', () => {
  it('writes memories and emits events on A; C converges; B\'s attached shell reads A\'s events over NATS in order, every hash verified', async () => {
    const peers = file.nodes.map(n => n.peerId)
    for (const node of file.nodes) {
      for (const peer of peers) if (peer !== node.peerId) await ok(node.name, ['cap-grant', '--principal', peer, '--capability', 'memory.federate', '--namespaces', 'agent'])
    }
    for (const cap of ['memory.kv.write', 'memory.kv.get', 'memory.episodic.write', 'memory.episodic.list']) {
      await ok('n1', ['cap-grant', '--principal', 'operator', '--capability', cap, '--namespaces', 'agent'])
    }
    writeFileSync(join(dir, 'agent.py'), AGENT)

    // A: the agent runs on n1's kernel, its memory calls checked against n1's grants.
    const ran = JSON.parse(await ok('n1', ['--json', 'python', 'agent.py', 'a1'])) as { token: { state: string, token: { id: string } }, stdout: string, ledger: { size: number, head: string } }
    expect(ran.token.state).toBe('completed')
    expect(ran.stdout).toBe('status done episodes 3\n')

    // C: federation brings n1's commits to n3.
    await until('n3 to converge on kv:agent and episodic:agent', async () => {
      const kv = await run([...attached('n3'), '--json', 'memory', 'show', 'kv', 'agent'])
      const ep = await run([...attached('n3'), '--json', 'memory', 'show', 'episodic', 'agent'])
      if (kv.code !== 0 || ep.code !== 0) return false
      const kvState = (JSON.parse(kv.stdout) as { state: unknown }).state
      const epState = (JSON.parse(ep.stdout) as { state: unknown[] }).state
      return JSON.stringify(kvState) === JSON.stringify({ status: 'done' }) && Array.isArray(epState) && epState.length === 3
    }, 120_000)
    const episodes = (JSON.parse(await ok('n3', ['--json', 'memory', 'show', 'episodic', 'agent'])) as { state: unknown[] }).state
    expect(episodes).toEqual([0, 1, 2].map(step => ({ agent: 'a1', step, note: `observation ${step}` })))

    // A's stream on NATS holds the run (its head) and the memory commits recorded after it.
    await until('n1\'s stream to hold the agent run and its commits', async () => {
      const r = await run([OS2, 'events', ...natsArgs(), '--node', 'n1', '--json'])
      if (r.code !== 0) return false
      const lines = r.stdout.trim().split('\n').map(l => JSON.parse(l) as EventEnvelope)
      return lines.some(e => e.hash === ran.ledger.head) && lines.filter(e => e.type === 'memory.commit').length >= 5
    }, 90_000)

    // B: an interactive shell attached to n2 (the session is checked with cap-list) reads A's events through NATS.
    const session = await run([...attached('n2'), 'repl'], { stdin: `cap-list\nevents ${natsArgs().join(' ')} --node n1 --json\nexit\n` })
    expect(session.stderr).toBe('')
    expect(session.code).toBe(0)
    const out = session.stdout.split('\n')
    expect(out.some(l => l.includes('python.exec'))).toBe(true)
    const seen = out.filter(l => l.startsWith('{"node":"n1"')).map(l => {
      const { node: _node, ...e } = JSON.parse(l) as EventEnvelope & { node: string }
      return e as EventEnvelope
    })
    expect(seen.map(e => e.seq)).toEqual([...Array(seen.length).keys()])
    let prev = '0'.repeat(64)
    for (const e of seen) {
      const { hash, ...body } = e
      expect(envelopeHash(body)).toBe(hash)
      expect(e.prev_hash).toBe(prev)
      prev = hash
    }
    // The same events, hash for hash, as A's own ledger (read over attach).
    const ledger = (JSON.parse(await ok('n1', ['--json', 'ledger-inspect'])) as { events: EventEnvelope[] }).events
    expect(seen.map(e => e.hash)).toEqual(ledger.slice(0, seen.length).map(e => e.hash))
    // The agent's run, in order: its steps, then its completion, then the commits n1 recorded.
    const run1 = seen.filter(e => e.token_id === ran.token.token.id)
    expect(run1.filter(e => e.type === 'custom' && e.payload.name === 'agent.step').map(e => (e.payload.data as { step: number }).step)).toEqual([0, 1, 2])
    expect(run1.at(-1)?.type).toBe('completed')
    expect(run1.filter(e => e.type === 'external_result' && e.payload.name === 'memory.write')).toHaveLength(5)
    const commits = seen.filter(e => e.type === 'memory.commit' && e.seq > (run1.at(-1)?.seq ?? 0)).map(e => e.payload.memory)
    expect(commits).toEqual(['kv:agent', 'episodic:agent', 'episodic:agent', 'episodic:agent', 'kv:agent'])
  })
})
