import { spawn } from 'node:child_process'
import type { ChildProcessWithoutNullStreams } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, OS2, os2, REPO, tempDir } from './harness.ts'

/**
 * Three `os2 federation serve` processes on 127.0.0.1, each on its own data
 * dir, grants set up through the CLI, writes through `os2 memory` (which
 * reaches each serve process over its control socket).
 */

interface Served { dir: string, child: ChildProcessWithoutNullStreams, peerId: string, addrs: string[], stderr: () => string }
interface Status { peerId: string, memoriesHash: string, memories: number, vector: Record<string, number>, peers: Array<{ peerId: string }> }
interface LedgerEvent { type: string, payload: Record<string, unknown> }

const SLOW = 360_000
let root: { path: string, cleanup: () => Promise<void> }
const dirs: string[] = []
const peerIds: string[] = []
const served: Served[] = []

async function ok (args: string[]): Promise<string> {
  const r = await os2(args)
  if (r.code !== 0) throw new Error(`os2 ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

async function serve (dir: string, peers: string[]): Promise<Served> {
  const args = [OS2, '--data-dir', dir, '--json', 'federation', 'serve', '--listen', '/ip4/127.0.0.1/tcp/0', '--interval-ms', '300']
  for (const p of peers) args.push('--peer', p)
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  const ready = await new Promise<{ peerId: string, addrs: string[] }>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`serve on ${dir} not ready after 90 s: ${stderr}`)) }, 90_000)
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      stdout += s
      const nl = stdout.indexOf('\n')
      if (nl >= 0) { clearTimeout(timer); resolve(JSON.parse(stdout.slice(0, nl)) as { peerId: string, addrs: string[] }) }
    })
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`serve on ${dir} exited ${code}: ${stderr}`)) })
  })
  const s = { dir, child, peerId: ready.peerId, addrs: ready.addrs, stderr: () => stderr }
  served.push(s)
  return s
}

async function stop (s: Served): Promise<number | null> {
  if (s.child.exitCode !== null) return s.child.exitCode
  const exited = new Promise<number | null>(resolve => s.child.once('exit', code => { resolve(code) }))
  s.child.kill('SIGTERM')
  const timer = setTimeout(() => { s.child.kill('SIGKILL') }, 30_000)
  const code = await exited
  clearTimeout(timer)
  return code
}

async function status (dir: string): Promise<Status> {
  return json<Status>(await os2(['--data-dir', dir, '--json', 'federation', 'status']))
}

async function waitFor<T> (what: string, probe: () => Promise<T | undefined>, timeoutMs = 150_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

async function ledger (dir: string): Promise<LedgerEvent[]> {
  return json<{ events: LedgerEvent[] }>(await os2(['--data-dir', dir, '--json', 'ledger-inspect'])).events
}

beforeAll(async () => {
  root = await tempDir('os2-fed-')
  for (const name of ['a', 'b', 'c']) dirs.push(join(root.path, name))
  await Promise.all(dirs.map(d => ok(['--data-dir', d, 'init', '--seed', 'fed'])))
  for (const d of dirs) peerIds.push((await status(d)).peerId)
  // Per node: the operator may write `shared` of every kind (node a also `private`); each other node may federate `shared`.
  await Promise.all(dirs.map(async (d, i) => {
    const grant = (principal: string, capability: string, namespaces: string): Promise<string> =>
      ok(['--data-dir', d, 'cap-grant', '--principal', principal, '--capability', capability, '--namespaces', namespaces])
    await grant('operator', 'memory.kv.write', i === 0 ? 'shared,private' : 'shared')
    await grant('operator', 'memory.episodic.write', 'shared')
    await grant('operator', 'memory.vector.write', 'shared')
    for (const [j, peer] of peerIds.entries()) if (j !== i) await grant(peer, 'memory.federate', 'shared')
  }))
  const a = await serve(dirs[0]!, [])
  const b = await serve(dirs[1]!, a.addrs)
  await serve(dirs[2]!, [...a.addrs, ...b.addrs])
}, SLOW)

afterAll(async () => {
  for (const s of served.splice(0)) await stop(s)
  await root?.cleanup()
}, SLOW)

describe('os2 federation serve (three processes)', () => {
  it('converges after concurrent os2 memory writes of all three kinds on all three nodes', async () => {
    const [a, b, c] = dirs as [string, string, string]
    await Promise.all([
      (async () => {
        await ok(['--data-dir', a, 'memory', 'kv', 'put', 'shared', 'ka', '"from-a"'])
        await ok(['--data-dir', a, 'memory', 'vector', 'upsert', 'shared', 'va', '[1,0]'])
      })(),
      (async () => {
        await ok(['--data-dir', b, 'memory', 'episodic', 'append', 'shared', '{"by":"b"}'])
        await ok(['--data-dir', b, 'memory', 'kv', 'put', 'shared', 'kb', '2'])
      })(),
      (async () => {
        await ok(['--data-dir', c, 'memory', 'vector', 'upsert', 'shared', 'vc', '[0,1]', '--metadata', '{"n":3}'])
        await ok(['--data-dir', c, 'memory', 'episodic', 'append', 'shared', '"by-c"'])
      })()
    ])
    const statuses = await waitFor('three equal replicas of three memories', async () => {
      const s = await Promise.all(dirs.map(status))
      const hashes = new Set(s.map(x => x.memoriesHash))
      return hashes.size === 1 && s.every(x => x.memories === 3 && Object.keys(x.vector).length === 3) ? s : undefined
    })
    expect(statuses.map(s => s.vector)).toEqual([statuses[0]!.vector, statuses[0]!.vector, statuses[0]!.vector])
    // The replicas, compared canonically through the CLI of every node.
    for (const kind of ['kv', 'episodic', 'vector']) {
      const shown = await Promise.all(dirs.map(async d => JSON.stringify(json<{ state: unknown }>(await os2(['--data-dir', d, '--json', 'memory', 'show', kind, 'shared'])).state)))
      expect(new Set(shown).size).toBe(1)
    }
    expect(json<{ state: unknown }>(await os2(['--data-dir', c, '--json', 'memory', 'show', 'kv', 'shared'])).state).toEqual({ ka: 'from-a', kb: 2 })
    const events = json<{ events: unknown[] }>(await os2(['--data-dir', a, '--json', 'memory', 'episodic', 'list', 'shared'])).events
    expect([...events].map(e => JSON.stringify(e)).sort()).toEqual(['"by-c"', '{"by":"b"}'])
    const hits = json<{ hits: Array<{ id: string }> }>(await os2(['--data-dir', b, '--json', 'memory', 'vector', 'search', 'shared', '[0,2]', '--k', '1'])).hits
    expect(hits.map(h => h.id)).toEqual(['vc'])
    const peers = json<{ serving: boolean, peers: Array<{ peerId: string }> }>(await os2(['--data-dir', a, '--json', 'federation', 'peers']))
    expect(peers.serving).toBe(true)
    expect(peers.peers.map(p => p.peerId).sort()).toEqual([peerIds[1], peerIds[2]].sort())
  }, SLOW)

  it('a write without a grant is a capability violation in the ledger and changes no memory', async () => {
    const b = dirs[1]!
    const outside = await os2(['--data-dir', b, 'memory', 'kv', 'put', 'other', 'x', '1'])
    expect(outside.code).toBe(1)
    expect(outside.stderr).toMatch(/GRANT_OUT_OF_SCOPE/)
    const stranger = await os2(['--data-dir', b, 'memory', 'kv', 'put', 'shared', 'x', '1', '--principal', 'agent-x'])
    expect(stranger.code).toBe(1)
    expect(stranger.stderr).toMatch(/GRANT_MISSING/)
    const violations = (await ledger(b)).filter(e => e.type === 'capability_violation').map(e => e.payload.reason)
    expect(violations).toEqual(['out_of_scope', 'missing'])
    const kv = json<{ state: Record<string, unknown> }>(await os2(['--data-dir', b, '--json', 'memory', 'show', 'kv', 'shared'])).state
    expect(kv).not.toHaveProperty('x')
  }, SLOW)

  it('a change outside the namespaces a receiver granted is refused there, with a federation.verdict event naming the reason', async () => {
    const [a, b, c] = dirs as [string, string, string]
    await ok(['--data-dir', a, 'memory', 'kv', 'put', 'private', 'secret', '42'])
    for (const receiver of [b, c]) {
      const verdict = await waitFor(`OUT_OF_SCOPE verdict at ${receiver}`, async () =>
        (await ledger(receiver)).find(e => e.type === 'federation.verdict' && e.payload.verdict === 'rejected' && e.payload.memory === 'kv:private'))
      expect(verdict.payload).toMatchObject({ reason: 'OUT_OF_SCOPE', origin: peerIds[0] })
      const shown = await os2(['--data-dir', receiver, '--json', 'memory', 'show', 'kv', 'private'])
      expect(json<{ state: unknown }>(shown).state).toEqual({})
    }
    expect(json<{ state: unknown }>(await os2(['--data-dir', a, '--json', 'memory', 'show', 'kv', 'private'])).state).toEqual({ secret: 42 })
  }, SLOW)

  it('a serve process killed with SIGKILL restarts on its data dir and catches up from its peers', async () => {
    const [a, b, c] = dirs as [string, string, string]
    const victim = served.find(s => s.dir === c)!
    const exited = new Promise(resolve => victim.child.once('exit', resolve))
    victim.child.kill('SIGKILL')
    await exited
    served.splice(served.indexOf(victim), 1)
    await ok(['--data-dir', a, 'memory', 'kv', 'put', 'shared', 'while-down', 'true'])
    await ok(['--data-dir', b, 'memory', 'episodic', 'append', 'shared', '"while-down"'])
    const peers = served.flatMap(s => s.addrs)
    await serve(c, peers)
    // a also holds kv:private (refused by b and c), so the replicas are compared memory by memory, after the vectors agree.
    let last: Status[] = []
    await waitFor('the restarted node to catch up', async () => {
      const s = last = await Promise.all(dirs.map(status))
      const vectors = new Set(s.map(x => JSON.stringify(x.vector)))
      return vectors.size === 1 && s[1]!.memoriesHash === s[2]!.memoriesHash ? s : undefined
    }).catch((err: unknown) => { throw new Error(`${(err as Error).message}: ${JSON.stringify(last)}`) })
    for (const kind of ['kv', 'episodic', 'vector']) {
      const shown = await Promise.all(dirs.map(async d => JSON.stringify(json<{ state: unknown }>(await os2(['--data-dir', d, '--json', 'memory', 'show', kind, 'shared'])).state)))
      expect(new Set(shown).size).toBe(1)
    }
    expect(json<{ state: Record<string, unknown> }>(await os2(['--data-dir', c, '--json', 'memory', 'show', 'kv', 'shared'])).state).toMatchObject({ 'while-down': true, ka: 'from-a' })
  }, SLOW)

  it('stops on SIGTERM; the data dir then reopens, replays every hash and keeps its memories', async () => {
    const a = served.find(s => s.dir === dirs[0])!
    const before = await status(a.dir)
    expect(await stop(a)).toBe(0)
    served.splice(served.indexOf(a), 1)
    const verify = await os2(['--data-dir', a.dir, '--json', 'ledger-verify', '--replay'])
    expect(verify.code).toBe(0)
    const after = await status(a.dir)
    expect(after.memoriesHash).toBe(before.memoriesHash)
    expect(after.vector).toEqual(before.vector)
  }, SLOW)
})
