import { mkdtemp, readFile, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { runCli } from '../src/cli.ts'
import { writeTranscript } from '../src/transcript.ts'
import { captureIO, createFakeBackend } from './fake-backend.ts'
import type { CapturedIO, FakeBackend } from './fake-backend.ts'

let cwd: string
let backend: FakeBackend
beforeEach(async () => {
  cwd = await mkdtemp(join(tmpdir(), 'os2-cli-'))
  backend = createFakeBackend()
})
afterEach(async () => { await rm(cwd, { recursive: true, force: true }) })

async function run (argv: string[], init: { stdin?: string, signal?: AbortSignal } = {}): Promise<{ code: number, io: CapturedIO }> {
  const io = captureIO({ cwd, ...init })
  const code = await runCli(argv, io, async () => backend)
  return { code, io }
}

async function initialised (): Promise<void> {
  expect((await run(['init', '--seed', '5'])).code).toBe(0)
}

describe('runCli() usage', () => {
  it('`runCli()` exits 2 with error USAGE when the command is unknown', async () => {
    const { code, io } = await run(['frobnicate'])
    expect(code).toBe(2)
    expect(io.stderrText()).toMatch(/^error USAGE: unknown command 'frobnicate'/m)
  })

  it('`runCli()` exits 2 with error USAGE when an option is unknown or a number is malformed', async () => {
    expect((await run(['cap-list', '--bogus'])).io.stderrText()).toMatch(/error USAGE: unknown option '--bogus'/)
    const r = await run(['ledger-proof', 'abc'])
    expect(r.code).toBe(2)
    expect(r.io.stderrText()).toMatch(/error USAGE: .*Not a non-negative integer/)
  })

  it('`runCli()` exits 2 and prints help when no command is given', async () => {
    const { code, io } = await run([])
    expect(code).toBe(2)
    expect(io.stderrText()).toContain('Usage: os2')
  })

  it('`runCli()` exits 0 and prints every command when asked for --help', async () => {
    const { code, io } = await run(['--help'])
    expect(code).toBe(0)
    for (const cmd of ['init', 'submit', 'cancel', 'cap-list', 'cap-show', 'cap-grant', 'cap-revoke', 'ledger-inspect', 'ledger-verify', 'ledger-proof', 'ledger-consistency', 'snapshot-create', 'snapshot-list', 'snapshot-show', 'snapshot-diff', 'snapshot-replay', 'snapshot-auth', 'snapshot-verify', 'kernel-ready-flag', 'scenario-run']) {
      expect(io.stdoutText()).toContain(cmd)
    }
  })

  it('`runCli()` prints a JSON error document on stderr when --json is given', async () => {
    const { code, io } = await run(['--json', 'cap-list'])
    expect(code).toBe(1)
    expect(JSON.parse(io.stderrText())).toEqual({ error: { code: 'DATA_DIR_MISSING', message: expect.stringContaining('does not exist') } })
    expect(io.stdoutText()).toBe('')
  })
})

describe('init and submit', () => {
  it('`runCli()` init exits 1 with DATA_DIR_EXISTS when run twice', async () => {
    await initialised()
    const { code, io } = await run(['init'])
    expect(code).toBe(1)
    expect(io.stderrText()).toMatch(/^error DATA_DIR_EXISTS: /)
  })

  it('`runCli()` submit builds the token from flags and prints its outcome', async () => {
    await initialised()
    const { code, io } = await run(['--json', 'submit', '--id', 't1', '--capability', 'kernel.state.put', '--args', '{"key":"k","value":"v"}',
      '--priority', '7', '--after', 'a,b', '--after', 'c', '--budget-tokens', '50', '--budget-memory', '60', '--budget-network', '70', '--budget-wall-ms', '80', '--principal', 'agent', '--tag', 'x'])
    expect(code).toBe(0)
    expect(backend.kernel?.received).toEqual([{
      type: 'SubmitToken',
      token: { id: 't1', capability: 'kernel.state.put', args: { key: 'k', value: 'v' }, priority: 7, after: ['a', 'b', 'c'], budget: { tokens: 50, memory: 60, network: 70, wallClockMs: 80 }, principal: 'agent', tag: 'x' }
    }])
    const doc = JSON.parse(io.stdoutText())
    expect(doc.token.state).toBe('completed')
    expect(doc.ledger.size).toBe(2)
    expect(backend.kernel?.closed).toBe(true)
  })

  it('`runCli()` submit prints a human table without --json', async () => {
    await initialised()
    const { code, io } = await run(['submit', '--id', 't1', '--capability', 'kernel.emit'])
    expect(code).toBe(0)
    expect(io.stdoutText()).toMatch(/state\s+│\s+completed/)
    expect(io.stdoutText()).toMatch(/principal\s+│\s+operator/)
  })

  it('`runCli()` submit exits 2 with BAD_REQUEST and submits nothing when --args is malformed JSON', async () => {
    await initialised()
    const { code, io } = await run(['submit', '--capability', 'kernel.emit', '--args', '{nope'])
    expect(code).toBe(2)
    expect(io.stderrText()).toMatch(/^error BAD_REQUEST: Cannot parse --args JSON/)
    expect(backend.kernel?.received).toEqual([])
  })

  it('`runCli()` submit exits 2 with USAGE when neither --capability nor --json-request is given', async () => {
    await initialised()
    expect((await run(['submit'])).code).toBe(2)
  })

  it('`runCli()` submit wraps a bare token from --json-request and defaults its principal', async () => {
    await initialised()
    await writeFile(join(cwd, 'tok.json'), JSON.stringify({ id: 'j1', capability: 'kernel.emit', args: { a: 1 } }))
    const { code } = await run(['submit', '--json-request', 'tok.json'])
    expect(code).toBe(0)
    expect(backend.kernel?.received[0]).toMatchObject({ type: 'SubmitToken', token: { id: 'j1', principal: 'operator' } })
  })

  it('`runCli()` submit reads a full request from stdin and rejects an unknown request type with exit 2', async () => {
    await initialised()
    const { code, io } = await run(['submit', '--json-request', '-'], { stdin: '{"type":"Explode"}' })
    expect(code).toBe(2)
    expect(io.stderrText()).toMatch(/^error UNKNOWN_REQUEST_TYPE: /)
    expect(backend.kernel?.received).toEqual([])
  })

  it('`runCli()` submit exits 2 with UNKNOWN_CAPABILITY when the kernel rejects the capability', async () => {
    await initialised()
    const { code, io } = await run(['submit', '--capability', 'no.such'])
    expect(code).toBe(2)
    expect(io.stderrText()).toMatch(/^error UNKNOWN_CAPABILITY: /)
  })

  it('`runCli()` submit exits 1 with the token error code when the token fails', async () => {
    await initialised()
    const { code, io } = await run(['submit', '--capability', 'kernel.emit', '--args', '{"fail":true}'])
    expect(code).toBe(1)
    expect(io.stderrText()).toMatch(/^error HANDLER_FAILED: asked to fail/)
  })

  it('`runCli()` submit rejects --json-request combined with token flags as USAGE', async () => {
    await initialised()
    expect((await run(['submit', '--json-request', '-', '--capability', 'kernel.emit'], { stdin: '{}' })).code).toBe(2)
  })

  it('`runCli()` cancel exits 1 with UNKNOWN_TOKEN for a token that does not exist', async () => {
    await initialised()
    const { code, io } = await run(['cancel', 'ghost'])
    expect(code).toBe(1)
    expect(io.stderrText()).toMatch(/^error UNKNOWN_TOKEN: /)
  })
})

describe('capabilities', () => {
  it('`runCli()` cap-list --json prints one parseable document', async () => {
    await initialised()
    const { code, io } = await run(['cap-list', '--json'])
    expect(code).toBe(0)
    expect(JSON.parse(io.stdoutText()).capabilities.map((c: { id: string }) => c.id)).toEqual(['kernel.emit', 'kernel.state.put'])
  })

  it('`runCli()` cap-show prints the schema and exits 2 for an unknown capability', async () => {
    await initialised()
    const ok = await run(['cap-show', 'kernel.emit'])
    expect(ok.code).toBe(0)
    expect(ok.io.stdoutText()).toContain('"type": "object"')
    const bad = await run(['cap-show', 'nope'])
    expect(bad.code).toBe(2)
    expect(bad.io.stderrText()).toMatch(/^error UNKNOWN_CAPABILITY/)
  })

  it('`runCli()` cap-grant sends the scope and window, cap-revoke revokes', async () => {
    await initialised()
    const g = await run(['--json', 'cap-grant', '--principal', 'agent', '--capability', 'kernel.state.put', '--namespaces', 'a,b', '--hosts', 'x.org', '--path-prefix', '/tmp', '--valid-from', '3', '--valid-until', '9'])
    expect(g.code).toBe(0)
    expect(backend.kernel?.received[0]).toEqual({ type: 'GrantCapability', from: 'operator', grant: { principal: 'agent', capability: 'kernel.state.put', scope: { namespaces: ['a', 'b'], hosts: ['x.org'], pathPrefix: '/tmp' }, validFrom: 3, validUntil: 9 } })
    expect(JSON.parse(g.io.stdoutText()).response.result).toEqual({ grantId: 'g1' })
    expect((await run(['cap-revoke', 'g1'])).code).toBe(0)
    expect(backend.kernel?.grants()[0]?.revoked).toBe(true)
    const missing = await run(['cap-revoke', 'g9'])
    expect(missing.code).toBe(1)
    expect(missing.io.stderrText()).toMatch(/^error UNKNOWN_GRANT/)
  })

  it('`runCli()` cap-grant exits 2 when a required option is missing', async () => {
    await initialised()
    expect((await run(['cap-grant', '--principal', 'x'])).code).toBe(2)
  })
})

describe('ledger', () => {
  async function withEvents (): Promise<void> {
    await initialised()
    for (const id of ['a', 'b', 'c']) expect((await run(['submit', '--id', id, '--capability', 'kernel.emit'])).code).toBe(0)
  }

  it('`runCli()` ledger-inspect --json lists events, filtered by --from and --since', async () => {
    await withEvents()
    const all = JSON.parse((await run(['ledger-inspect', '--json'])).io.stdoutText())
    expect(all.size).toBe(6)
    expect(all.events.map((e: { seq: number }) => e.seq)).toEqual([0, 1, 2, 3, 4, 5])
    const from = JSON.parse((await run(['ledger-inspect', '--json', '--from', '4'])).io.stdoutText())
    expect(from.events.map((e: { seq: number }) => e.seq)).toEqual([4, 5])
    const since = JSON.parse((await run(['ledger-inspect', '--json', '--since', all.events[2].hash])).io.stdoutText())
    expect(since.events.map((e: { seq: number }) => e.seq)).toEqual([3, 4, 5])
    const table = await run(['ledger-inspect', '--table', '--limit', '2'])
    expect(table.io.stdoutText()).toContain('2 of 6 events')
    const unknown = await run(['ledger-inspect', '--since', 'f'.repeat(64)])
    expect(unknown.code).toBe(1)
    expect(unknown.io.stderrText()).toMatch(/^error UNKNOWN_EVENT/)
  })

  it('`runCli()` ledger-inspect --follow prints new events until the signal aborts', async () => {
    await withEvents()
    const controller = new AbortController()
    const running = run(['ledger-inspect', '--follow', '--json', '--from', '5', '--interval-ms', '10'], { signal: controller.signal })
    await new Promise(resolve => setTimeout(resolve, 50))
    await backend.kernel?.handle({ type: 'CancelToken', tokenId: 'a' })
    await new Promise(resolve => setTimeout(resolve, 80))
    controller.abort()
    const { code, io } = await running
    expect(code).toBe(0)
    const lines = io.stdoutText().trim().split('\n').map(l => JSON.parse(l) as { seq: number, type: string })
    expect(lines.map(e => e.seq)).toEqual([5, 6])
    expect(lines[1]?.type).toBe('cancelled')
  })

  it('`runCli()` ledger-verify exits 0 on an intact ledger and 1 naming the first bad seq on a tampered one', async () => {
    await withEvents()
    const ok = await run(['ledger-verify'])
    expect(ok.code).toBe(0)
    expect(ok.io.stdoutText()).toMatch(/ledger ok: 6 events/)
    const events = backend.kernel!.events
    events[3] = { ...events[3]!, tick: 99 }
    const bad = await run(['ledger-verify'])
    expect(bad.code).toBe(1)
    expect(bad.io.stderrText()).toMatch(/^error LEDGER_CHAIN_BROKEN: First bad sequence number 3/)
    const json = await run(['ledger-verify', '--json'])
    expect(JSON.parse(json.io.stdoutText())).toMatchObject({ ok: false, firstBadSeq: 3 })
  })

  it('`runCli()` ledger-proof verifies and exits 2 for a sequence number outside the ledger', async () => {
    await withEvents()
    const ok = await run(['ledger-proof', '2', '--json'])
    expect(ok.code).toBe(0)
    expect(JSON.parse(ok.io.stdoutText())).toMatchObject({ seq: 2, verified: true, proof: { leafIndex: 2, treeSize: 6 } })
    const out = await run(['ledger-proof', '6'])
    expect(out.code).toBe(2)
    expect(out.io.stderrText()).toMatch(/^error MERKLE_RANGE/)
    const cons = await run(['ledger-consistency', '2', '5', '--json'])
    expect(cons.code).toBe(0)
    expect(JSON.parse(cons.io.stdoutText())).toMatchObject({ verified: true, proof: { oldSize: 2, newSize: 5 } })
    expect((await run(['ledger-consistency', '5', '2'])).code).toBe(2)
  })
})

describe('snapshots', () => {
  it('`runCli()` snapshot-create/list/show/diff/replay/auth/verify round-trip', async () => {
    await initialised()
    const a = JSON.parse((await run(['--json', 'snapshot-create', '--label', 'before'])).io.stdoutText())
    expect(a.snapshot.label).toBe('before')
    await run(['submit', '--capability', 'kernel.state.put', '--args', '{"key":"k","value":"v"}'])
    const b = JSON.parse((await run(['--json', 'snapshot-create', '--label', 'after'])).io.stdoutText())
    const list = JSON.parse((await run(['--json', 'snapshot-list'])).io.stdoutText())
    expect(list.snapshots.map((s: { label: string }) => s.label)).toEqual(['before', 'after'])
    const shown = JSON.parse((await run(['--json', 'snapshot-show', b.snapshot.id])).io.stdoutText())
    expect(shown.state).toEqual({ k: 'v' })
    const diff = JSON.parse((await run(['--json', 'snapshot-diff', a.snapshot.id, b.snapshot.id])).io.stdoutText())
    expect(diff.changes).toEqual([{ path: 'kv/default/k', after: 'v' }])
    const human = await run(['snapshot-diff', a.snapshot.id, b.snapshot.id])
    expect(human.io.stdoutText()).toContain('added')
    expect((await run(['snapshot-replay', a.snapshot.id])).io.stdoutText()).toContain('replay ok')
    const token = (await run(['snapshot-auth', b.snapshot.id])).io.stdoutText().trim()
    const verified = await run(['--json', 'snapshot-verify', token])
    expect(verified.code).toBe(0)
    expect(JSON.parse(verified.io.stdoutText()).claims).toEqual({ snapshot: b.snapshot.id })
    const tampered = await run(['snapshot-verify', token.replace('fake', 'faek')])
    expect(tampered.code).toBe(1)
    expect(tampered.io.stderrText()).toMatch(/^error TOKEN_INVALID/)
    expect((await run(['kernel-ready-flag', '--set', b.snapshot.id])).code).toBe(0)
    expect(JSON.parse((await run(['--json', 'kernel-ready-flag'])).io.stdoutText())).toEqual({ ready: [b.snapshot.id] })
  })

  it('`runCli()` snapshot-show exits 1 with UNKNOWN_SNAPSHOT for an unknown id', async () => {
    await initialised()
    const { code, io } = await run(['snapshot-show', 'nope'])
    expect(code).toBe(1)
    expect(io.stderrText()).toMatch(/^error UNKNOWN_SNAPSHOT/)
  })
})

describe('scenario-run', () => {
  it('`runCli()` scenario-run exits 0 and prints the head when every expectation holds', async () => {
    await writeFile(join(cwd, 's.json'), JSON.stringify({
      seed: 5,
      steps: [
        { request: { type: 'SubmitToken', token: { id: 'a', capability: 'kernel.emit', principal: 'operator' } }, expect: { disposition: 'queued', tokenState: 'completed' } },
        { request: { type: 'SubmitToken', token: { id: 'b', capability: 'nope', principal: 'operator' } }, expect: { disposition: 'rejected', errorCode: 'UNKNOWN_CAPABILITY' } }
      ]
    }))
    const { code, io } = await run(['scenario-run', 's.json', '--fresh'])
    expect(code).toBe(0)
    expect(io.stdoutText()).toMatch(/ledger head [0-9a-f]{64} \(3 events\)/)
  })

  it('`runCli()` scenario-run exits 1 naming the step whose expectation fails', async () => {
    await writeFile(join(cwd, 's.json'), JSON.stringify({
      steps: [
        { request: { type: 'SubmitToken', token: { id: 'a', capability: 'kernel.emit', principal: 'operator' } } },
        { name: 'must fail', request: { type: 'SubmitToken', token: { id: 'b', capability: 'kernel.emit', principal: 'operator', args: { fail: true } } }, expect: { tokenState: 'completed' } }
      ]
    }))
    const { code, io } = await run(['--json', 'scenario-run', 's.json', '--fresh'])
    expect(code).toBe(1)
    expect(JSON.parse(io.stderrText()).error).toEqual({ code: 'SCENARIO_EXPECTATION_FAILED', message: expect.stringContaining('Step 2 (must fail): expected token state completed, got failed') })
    const doc = JSON.parse(io.stdoutText())
    expect(doc.steps.map((s: { ok: boolean }) => s.ok)).toEqual([true, false])
  })

  it('`runCli()` scenario-run exits 2 with SCENARIO_INVALID for a malformed scenario and 1 for a seed mismatch', async () => {
    await writeFile(join(cwd, 'bad.json'), JSON.stringify({ steps: [{ requets: {} }] }))
    const bad = await run(['scenario-run', 'bad.json', '--fresh'])
    expect(bad.code).toBe(2)
    expect(bad.io.stderrText()).toMatch(/^error SCENARIO_INVALID: Invalid scenario at \$\.steps\[0\]: unknown field "requets"/)
    await initialised()
    await writeFile(join(cwd, 'seed.json'), JSON.stringify({ seed: 'other', steps: [] }))
    const mismatch = await run(['scenario-run', 'seed.json'])
    expect(mismatch.code).toBe(1)
    expect(mismatch.io.stderrText()).toMatch(/^error SCENARIO_SEED_MISMATCH/)
  })

  it('`runCli()` scenario-run exits 1 with DATA_DIR_MISSING without --fresh when no data dir exists', async () => {
    await writeFile(join(cwd, 's.json'), JSON.stringify({ steps: [] }))
    expect((await run(['scenario-run', 's.json'])).code).toBe(1)
  })
})

describe('writeTranscript()', () => {
  it('`writeTranscript()` appends command, output and exit lines when the data dir is initialised', async () => {
    const dir = join(cwd, 'dd')
    await mkdir(dir)
    const record = { started: new Date('2026-01-01T00:00:00.000Z'), finished: new Date('2026-01-01T00:00:01.500Z'), argv: ['cap-list'], command: 'cap-list', exitCode: 0, output: { stdoutBytes: 3, stdoutLines: 1, stdoutHead: 'hi\n', stderr: '' } }
    expect(await writeTranscript(dir, record)).toBeUndefined()
    await writeFile(join(dir, 'genesis.json'), '{}')
    const file = await writeTranscript(dir, record)
    expect(file).toBe(join(dir, 'logs', '2026-01-01T00-00-00-000Z.jsonl'))
    expect(await readdir(join(dir, 'logs'))).toEqual(['2026-01-01T00-00-00-000Z.jsonl'])
    const lines = (await readFile(file!, 'utf8')).trim().split('\n').map(l => JSON.parse(l) as Record<string, unknown>)
    expect(lines.map(l => l.type)).toEqual(['command', 'output', 'exit'])
    expect(lines[2]).toMatchObject({ exitCode: 0, durationMs: 1500 })
  })
})

describe('progress', () => {
  it('`runCli()` draws a progress bar only when stdout is a TTY and --json is off', async () => {
    await writeFile(join(cwd, 's.json'), JSON.stringify({ steps: [{ request: { type: 'ListSnapshots' } }] }))
    const calls: string[] = []
    const tty = async (argv: string[]): Promise<number> => {
      const io = captureIO({ cwd })
      const ttyIO = { ...io, stdout: { write: io.stdout.write, isTTY: true }, progress: async (label: string) => { calls.push(label); return { update () {}, stop () {} } } }
      return await runCli(argv, ttyIO, async () => backend)
    }
    expect(await tty(['scenario-run', 's.json', '--fresh'])).toBe(0)
    expect(await tty(['ledger-verify'])).toBe(0)
    expect(calls).toEqual(['scenario', 'verifying'])
    expect(await tty(['--json', 'ledger-verify'])).toBe(0)
    expect((await run(['ledger-verify'])).code).toBe(0)
    expect(calls).toEqual(['scenario', 'verifying'])
  })
})
