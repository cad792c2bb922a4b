import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, os2, tempDir } from './harness.ts'

/** `os2 memory` on a data dir no serve process holds: each command opens the kernel itself. */

const SLOW = 120_000
let root: { path: string, cleanup: () => Promise<void> }
let dir: string

async function ok (...args: string[]): Promise<string> {
  const r = await os2(['--data-dir', dir, ...args])
  if (r.code !== 0) throw new Error(`os2 ${args.join(' ')} exited ${r.code}: ${r.stderr}`)
  return r.stdout
}

beforeAll(async () => {
  root = await tempDir('os2-mem-')
  dir = join(root.path, 'node')
  await ok('init', '--seed', 'mem')
  for (const cap of ['memory.kv.write', 'memory.episodic.write', 'memory.vector.write']) await ok('cap-grant', '--principal', 'operator', '--capability', cap, '--namespaces', 'notes')
}, SLOW)

afterAll(async () => { await root?.cleanup() })

describe('os2 memory (embedded)', () => {
  it('kv put/get/delete, log and show --at a past commit', async () => {
    const first = JSON.parse(await ok('--json', 'memory', 'kv', 'put', 'notes', 'a', '{"x":1}')) as { commit: string, seq: number }
    expect(first.seq).toBe(1)
    await ok('memory', 'kv', 'put', 'notes', 'b', 'plain text')
    expect((await ok('memory', 'kv', 'get', 'notes', 'b')).trim()).toBe('"plain text"')
    await ok('memory', 'kv', 'delete', 'notes', 'a')
    const missing = await os2(['--data-dir', dir, 'memory', 'kv', 'get', 'notes', 'a'])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/KEY_NOT_FOUND/)
    const log = JSON.parse(await ok('--json', 'memory', 'log', 'kv', 'notes')) as { total: number, commits: Array<{ id: string, parents: string[] }> }
    expect(log.total).toBe(3)
    expect(log.commits[1]?.parents).toEqual([first.commit])
    expect(JSON.parse(await ok('memory', 'show', 'kv', 'notes', '--at', first.commit))).toEqual({ a: { x: 1 } })
    expect(JSON.parse(await ok('memory', 'show', 'kv', 'notes'))).toEqual({ b: 'plain text' })
  }, SLOW)

  it('episodic append/list and vector upsert/search', async () => {
    await ok('memory', 'episodic', 'append', 'notes', '{"e":1}', '"two"')
    expect((await ok('memory', 'episodic', 'list', 'notes')).trim().split('\n')).toEqual(['{"e":1}', '"two"'])
    await ok('memory', 'vector', 'upsert', 'notes', 'up', '[0,1]', '--metadata', '{"dir":"up"}')
    await ok('memory', 'vector', 'upsert', 'notes', 'right', '[1,0]')
    const hits = json<{ hits: Array<{ id: string, metadata: unknown }> }>(await os2(['--data-dir', dir, '--json', 'memory', 'vector', 'search', 'notes', '[0.1,1]']))
    expect(hits.hits.map(h => h.id)).toEqual(['up', 'right'])
    expect(hits.hits[0]?.metadata).toEqual({ dir: 'up' })
  }, SLOW)

  it('bad usage exits 2; writes are recorded once across reopenings and replay', async () => {
    expect((await os2(['--data-dir', dir, 'memory', 'kv', 'put', 'notes'])).code).toBe(2)
    expect((await os2(['--data-dir', dir, 'memory', 'vector', 'search', 'notes', 'not-json'])).code).toBe(2)
    expect((await os2(['--data-dir', dir, 'memory', 'nope', 'x'])).code).toBe(2)
    const log = JSON.parse(await ok('--json', 'memory', 'log', 'kv', 'notes')) as { total: number }
    expect(log.total).toBe(3)
    const status = JSON.parse(await ok('--json', 'federation', 'status')) as { serving: boolean, vector: Record<string, number>, peerId: string }
    expect(status.serving).toBe(false)
    expect(status.vector[status.peerId]).toBe(6)
    const events = json<{ events: Array<{ type: string }> }>(await os2(['--data-dir', dir, '--json', 'ledger-inspect'])).events
    expect(events.filter(e => e.type === 'memory.commit')).toHaveLength(6)
    expect((await os2(['--data-dir', dir, 'ledger-verify', '--replay'])).code).toBe(0)
  }, SLOW)
})
