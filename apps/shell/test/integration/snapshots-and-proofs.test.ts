import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, os2, tempDir } from './harness.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let dir: string

interface Summary { id: string, label: string, ledgerSeq: number, ledgerHead: string, stateHash: string, ready: boolean }

beforeAll(async () => {
  tmp = await tempDir('os2-snapshots-')
  dir = join(tmp.path, 'data')
  expect((await os2(['--data-dir', dir, 'init', '--seed', 'snapshots'])).code).toBe(0)
}, 600_000)
afterAll(async () => { await tmp.cleanup() })

const run = async (...args: string[]): ReturnType<typeof os2> => await os2(['--data-dir', dir, ...args])

describe('os2 snapshots, proofs and transcripts', { timeout: 600_000 }, () => {
  it('`os2 snapshot-*` create, list, show, diff, replay, auth, verify and ready-flag round-trip', async () => {
    expect((await run('cap-grant', '--principal', 'agent', '--capability', 'kernel.state.put', '--namespaces', 'notes')).code).toBe(0)
    const put = async (key: string, value: unknown): Promise<void> => {
      const r = await run('submit', '--capability', 'kernel.state.put', '--principal', 'agent', '--args', JSON.stringify({ namespace: 'notes', key, value }))
      expect(r.code, r.stderr).toBe(0)
    }
    await put('a', 1)
    const first = json<{ snapshot: Summary }>(await run('--json', 'snapshot-create', '--label', 'one')).snapshot
    expect(first.label).toBe('one')
    await put('b', [2, 3])
    await put('a', 'changed')
    const second = json<{ snapshot: Summary }>(await run('--json', 'snapshot-create', '--label', 'two')).snapshot

    const list = json<{ snapshots: Summary[] }>(await run('--json', 'snapshot-list')).snapshots
    expect(list.map(s => s.id)).toEqual([first.id, second.id])
    const human = await run('snapshot-list')
    expect(human.stdout).toContain(first.id)
    expect(human.stdout).toContain('two')
    expect(await readdir(join(dir, 'snapshots'))).toEqual(expect.arrayContaining([`${first.id}.json`, `${second.id}.json`]))

    const shown = json<Summary & { state: Record<string, unknown> }>(await run('--json', 'snapshot-show', second.id))
    expect(shown.id).toBe(second.id)
    expect(JSON.stringify(shown.state)).toContain('changed')

    const diff = json<{ changes: Array<{ path: string, before?: unknown, after?: unknown }> }>(await run('--json', 'snapshot-diff', first.id, second.id))
    expect(diff.changes).toEqual(expect.arrayContaining([
      { path: 'kv/notes/a', before: 1, after: 'changed' },
      { path: 'kv/notes/b', after: [2, 3] }
    ]))
    const sorted = [...diff.changes.map(c => c.path)].sort()
    expect(diff.changes.map(c => c.path)).toEqual(sorted)

    const replay = await run('snapshot-replay', first.id)
    expect(replay.code, replay.stderr).toBe(0)
    expect(replay.stdout).toMatch(/replay ok: \d+ events replayed .* every hash matches/)
    expect(json(await run('--json', 'snapshot-replay', first.id.slice(0, 8)))).toMatchObject({ ok: true })

    const auth = await run('snapshot-auth', second.id)
    expect(auth.code).toBe(0)
    const token = auth.stdout.trim()
    expect(token.split('.')).toHaveLength(3)
    const verified = json<{ valid: boolean, claims: Record<string, unknown> }>(await run('--json', 'snapshot-verify', token))
    expect(verified.valid).toBe(true)
    expect(verified.claims).toMatchObject({ sub: second.id, ledger_head: second.ledgerHead, state_hash: second.stateHash })

    // Offline: only the public key, no data dir at all.
    const publicKey = (await readFile(join(dir, 'node.pub'), 'utf8')).trim()
    const offline = await os2(['--data-dir', join(tmp.path, 'no-such-dir'), 'snapshot-verify', token, '--public-key', publicKey])
    expect(offline.code, offline.stderr).toBe(0)
    expect(offline.stdout).toContain('token valid')

    const ready = await run('kernel-ready-flag', '--set', second.id)
    expect(ready.code).toBe(0)
    expect(json<{ ready: string[] }>(await run('--json', 'kernel-ready-flag')).ready).toEqual([second.id])
  })

  it('`os2 snapshot-verify` exits 1 for a tampered token, a forged claim or another node key', async () => {
    const created = json<{ snapshot: Summary }>(await run('--json', 'snapshot-create', '--label', 'auth'))
    const token = (await run('snapshot-auth', created.snapshot.id)).stdout.trim()
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const sigBytes = Buffer.from(signature, 'base64url')
    sigBytes[5] = sigBytes[5]! ^ 0x01
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
    const forged = Buffer.from(JSON.stringify({ ...claims, ledger_head: 'f'.repeat(64) })).toString('base64url')
    for (const bad of [`${header}.${payload}.${sigBytes.toString('base64url')}`, `${header}.${forged}.${signature}`, token.slice(0, -3)]) {
      const r = await run('snapshot-verify', bad)
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/^error SNAPSHOT_AUTH_INVALID: /m)
    }
    const other = join(tmp.path, 'other-node')
    expect((await os2(['--data-dir', other, 'init'])).code).toBe(0)
    const wrongKey = await os2(['--data-dir', other, 'snapshot-verify', token])
    expect(wrongKey.code).toBe(1)
    expect(wrongKey.stderr).toMatch(/^error SNAPSHOT_AUTH_INVALID: /m)
  })

  it('`os2 ledger-proof` and `os2 ledger-consistency` verify against the ledger root', async () => {
    const size = json<{ size: number }>(await run('--json', 'ledger-inspect', '--limit', '0')).size
    const proof = await run('--json', 'ledger-proof', '3')
    expect(proof.code, proof.stderr).toBe(0)
    expect(json(proof)).toMatchObject({ seq: 3, verified: true, proof: { leafIndex: 3, treeSize: size } })
    const older = json<{ verified: boolean, proof: { treeSize: number, path: string[] } }>(await run('--json', 'ledger-proof', '1', '--size', '5'))
    expect(older).toMatchObject({ verified: true, proof: { treeSize: 5 } })
    const human = await run('ledger-proof', '0')
    expect(human.stdout).toMatch(/verified\s+│ yes/)
    const consistency = await run('--json', 'ledger-consistency', '4')
    expect(consistency.code).toBe(0)
    expect(json(consistency)).toMatchObject({ verified: true, proof: { oldSize: 4, newSize: size } })
    expect(json(await run('--json', 'ledger-consistency', '2', '7'))).toMatchObject({ verified: true, proof: { oldSize: 2, newSize: 7 } })
    const outside = await run('ledger-proof', String(size + 10))
    expect(outside.code).toBe(2)
    expect(outside.stderr).toMatch(/^error MERKLE_RANGE: /m)
  })

  it('`os2 --json` prints one parseable JSON document for every inspecting command', async () => {
    const snap = json<{ snapshots: Summary[] }>(await run('--json', 'snapshot-list')).snapshots[0]!
    for (const args of [['cap-list'], ['cap-show', 'kernel.state.put'], ['grant-list'], ['ledger-inspect'], ['ledger-verify'], ['snapshot-list'], ['snapshot-show', snap.id], ['kernel-ready-flag']]) {
      const r = await run('--json', ...args)
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0)
      expect(() => JSON.parse(r.stdout), args.join(' ')).not.toThrow()
    }
    const cap = json<{ capability: { id: string, argsSchema: { type: string, properties: Record<string, unknown> } }, grants: unknown[] }>(await run('--json', 'cap-show', 'kernel.state.put'))
    expect(cap.capability.argsSchema.type).toBe('object')
    expect(Object.keys(cap.capability.argsSchema.properties)).toEqual(expect.arrayContaining(['namespace', 'key', 'value']))
    expect(cap.grants).toHaveLength(1)
  })

  it('`os2 cap-revoke` blocks new tokens at once and `os2 cancel` cancels a queued token', async () => {
    const grants = json<{ grants: Array<{ id: string, capability: string }> }>(await run('--json', 'grant-list')).grants
    const g = grants.find(x => x.capability === 'kernel.state.put')!
    const queued = await run('--json', 'submit', '--id', 'queued-1', '--capability', 'kernel.state.put', '--principal', 'agent', '--args', '{"namespace":"notes","key":"q","value":1}', '--no-run')
    expect(queued.code, queued.stderr).toBe(0)
    expect(json<{ token: { state: string } }>(queued).token.state).toBe('scheduled')
    const cancel = await run('--json', 'cancel', 'queued-1', '--reason', 'test')
    expect(cancel.code, cancel.stderr).toBe(0)
    expect(json<{ token: { state: string } }>(cancel).token.state).toBe('cancelled')
    expect((await run('cap-revoke', g.id)).code).toBe(0)
    const denied = await run('submit', '--capability', 'kernel.state.put', '--principal', 'agent', '--args', '{"namespace":"notes","key":"z","value":1}')
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(/^error GRANT_REVOKED: /m)
  })

  it('every invocation appends a transcript to <data-dir>/logs', async () => {
    const before = new Set(await readdir(join(dir, 'logs')))
    expect((await run('cap-list')).code).toBe(0)
    expect((await run('cap-show', 'nope')).code).toBe(2)
    const fresh = (await readdir(join(dir, 'logs'))).filter(f => !before.has(f)).sort()
    expect(fresh.length).toBeGreaterThanOrEqual(1)
    const lines = (await Promise.all(fresh.map(async f => await readFile(join(dir, 'logs', f), 'utf8')))).join('').trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    const commands = lines.filter(l => l.type === 'command').map(l => l.argv)
    expect(commands).toEqual(expect.arrayContaining([['--data-dir', dir, 'cap-list'], ['--data-dir', dir, 'cap-show', 'nope']]))
    const exits = lines.filter(l => l.type === 'exit').map(l => l.exitCode)
    expect(exits).toEqual(expect.arrayContaining([0, 2]))
    const outputs = lines.filter(l => l.type === 'output') as Array<{ stdoutBytes: number, stderr: string }>
    expect(outputs.some(o => o.stderr.startsWith('error UNKNOWN_CAPABILITY'))).toBe(true)
    expect(outputs.some(o => o.stdoutBytes > 0)).toBe(true)
  })
})
