import { chmod, mkdir, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, ledgerBytes, ledgerEvents, os2, tempDir } from './harness.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let dir: string

beforeAll(async () => {
  tmp = await tempDir('os2-bad-input-')
  dir = join(tmp.path, 'data')
  expect((await os2(['--data-dir', dir, 'init', '--seed', '3'])).code).toBe(0)
  expect((await os2(['--data-dir', dir, 'cap-grant', '--principal', 'agent', '--capability', 'kernel.state.put', '--namespaces', 'notes'])).code).toBe(0)
}, 600_000)
afterAll(async () => { await tmp.cleanup() })

/** Runs `args` and checks exit code, the `error <CODE>:` line and that the ledger did not change at all. */
async function expectUnchanged (args: string[], exit: number, code: string, options: { stdin?: string } = {}): Promise<void> {
  const before = await ledgerBytes(dir)
  const r = await os2(['--data-dir', dir, ...args], options)
  expect(r.code, r.stderr).toBe(exit)
  expect(r.stderr).toMatch(new RegExp(`^error ${code}: \\S`, 'm'))
  expect((await ledgerBytes(dir)).equals(before)).toBe(true)
  const j = await os2(['--data-dir', dir, '--json', ...args], options)
  expect(j.code).toBe(exit)
  expect(JSON.parse(j.stderr)).toEqual({ error: { code, message: expect.any(String) } })
  expect((await ledgerBytes(dir)).equals(before)).toBe(true)
}

/** Runs `args` and checks the ledger was only extended, by request_rejected events only. */
async function expectOnlyRejections (args: string[], exit: number, code: string): Promise<void> {
  const before = await ledgerBytes(dir)
  const r = await os2(['--data-dir', dir, ...args])
  expect(r.code, r.stderr).toBe(exit)
  expect(r.stderr).toMatch(new RegExp(`^error ${code}: \\S`, 'm'))
  const after = await ledgerBytes(dir)
  expect(after.subarray(0, before.length).equals(before)).toBe(true)
  const added = (await ledgerEvents(dir)).slice(before.toString('utf8').split('\n').filter(l => l.length > 0).length)
  expect(added.length).toBe(1)
  expect(added[0]).toMatchObject({ type: 'request_rejected', payload: { code } })
  expect((await os2(['--data-dir', dir, 'ledger-verify'])).code).toBe(0)
}

describe('os2 bad input', { timeout: 600_000 }, () => {
  it('`os2 submit` exits 2 with BAD_REQUEST and leaves the ledger unchanged when --args is malformed JSON', async () => {
    await expectUnchanged(['submit', '--capability', 'kernel.state.put', '--principal', 'agent', '--args', '{"namespace": notes}'], 2, 'BAD_REQUEST')
  })

  it('`os2 submit` exits 2 with BAD_REQUEST when the --json-request file is not JSON', async () => {
    await writeFile(join(tmp.path, 'broken.json'), '{"type": "SubmitToken",')
    await expectUnchanged(['submit', '--json-request', join(tmp.path, 'broken.json')], 2, 'BAD_REQUEST')
  })

  it('`os2 submit` exits 2 with UNKNOWN_REQUEST_TYPE when the request type is unknown', async () => {
    await expectUnchanged(['submit', '--json-request', '-'], 2, 'UNKNOWN_REQUEST_TYPE', { stdin: '{"type":"FormatDisk","target":"/"}' })
  })

  it('`os2 submit` exits 2 with SCHEMA_VIOLATION before submission when the token does not match the protocol schema', async () => {
    await expectUnchanged(['submit', '--json-request', '-'], 2, 'SCHEMA_VIOLATION', { stdin: JSON.stringify({ type: 'SubmitToken', token: { id: 'bad id with spaces', capability: 'kernel.emit', principal: 'agent' } }) })
    await expectUnchanged(['submit', '--capability', 'kernel.emit', '--priority', '5000'], 2, 'SCHEMA_VIOLATION')
  })

  it('`os2 submit` exits 2 with PAYLOAD_TOO_LARGE and leaves the ledger unchanged when the request exceeds the limit', async () => {
    const big = { id: 'big', capability: 'kernel.state.put', principal: 'agent', args: { namespace: 'notes', key: 'k', value: 'x'.repeat(300_000) } }
    await writeFile(join(tmp.path, 'big.json'), JSON.stringify(big))
    await expectUnchanged(['submit', '--json-request', join(tmp.path, 'big.json')], 2, 'PAYLOAD_TOO_LARGE')
  })

  it('`os2 submit` exits 2 with UNKNOWN_CAPABILITY and the ledger gains only a rejection event', async () => {
    await expectOnlyRejections(['submit', '--id', 'u1', '--capability', 'no.such.thing', '--principal', 'agent'], 2, 'UNKNOWN_CAPABILITY')
  })

  it('`os2 submit` exits 2 with SCHEMA_VIOLATION and the ledger gains only a rejection event when capability arguments are invalid', async () => {
    await expectOnlyRejections(['submit', '--id', 's1', '--capability', 'kernel.state.put', '--principal', 'agent', '--args', '{"namespace":"notes"}'], 2, 'SCHEMA_VIOLATION')
  })

  it('`os2` exits 2 with USAGE for an unknown command or option and changes nothing', async () => {
    await expectUnchanged(['ledger-frobnicate'], 2, 'USAGE')
    await expectUnchanged(['cap-list', '--colour'], 2, 'USAGE')
    await expectUnchanged(['submit', '--capability', 'kernel.emit', '--budget-tokens', '-5'], 2, 'USAGE')
  })

  it('`os2` exits 1 with DATA_DIR_MISSING for a data dir that does not exist, and does not create it', async () => {
    const missing = join(tmp.path, 'nowhere', 'deeper')
    for (const args of [['cap-list'], ['ledger-verify'], ['ledger-inspect'], ['snapshot-list'], ['submit', '--capability', 'kernel.emit']]) {
      const r = await os2(['--data-dir', missing, ...args])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr).toMatch(/^error DATA_DIR_MISSING: Data dir .* does not exist/m)
    }
    await expect(stat(join(tmp.path, 'nowhere'))).rejects.toThrow(/ENOENT/)
    // OS2_DATA_DIR is honoured the same way.
    const env = await os2(['cap-list'], { env: { OS2_DATA_DIR: missing } })
    expect(env.code).toBe(1)
    expect(env.stderr).toContain(missing)
  })

  // Tests run as root, for whom chmod 000 does not stop reads, so unreadability
  // is also made real in ways that stop root too: the data dir path is a
  // regular file, or genesis.json is a directory (EISDIR on read).
  it('`os2` exits 1 with DATA_DIR_UNREADABLE when the data dir is a file', async () => {
    const file = join(tmp.path, 'a-file')
    await writeFile(file, 'not a directory')
    for (const args of [['cap-list'], ['ledger-verify'], ['init']]) {
      const r = await os2(['--data-dir', file, ...args])
      expect(r.code, args.join(' ')).toBe(1)
      expect(r.stderr).toMatch(/^error DATA_DIR_UNREADABLE: /m)
    }
  })

  it('`os2` exits 1 with DATA_DIR_UNREADABLE when genesis.json is a directory', async () => {
    const broken = join(tmp.path, 'broken-genesis')
    expect((await os2(['--data-dir', broken, 'init'])).code).toBe(0)
    await unlink(join(broken, 'genesis.json'))
    await mkdir(join(broken, 'genesis.json'))
    const r = await os2(['--data-dir', broken, 'cap-list'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error DATA_DIR_UNREADABLE: .*genesis\.json/m)
  })

  it('`os2` exits 1 with DATA_DIR_UNREADABLE when the data dir is chmod 000', async () => {
    // As root, chmod 000 stops nothing, so the CLI runs as the unprivileged
    // user nobody (uid 65534) for this check; as any other user, as itself.
    const locked = join(tmp.path, 'locked')
    expect((await os2(['--data-dir', locked, 'init'])).code).toBe(0)
    await chmod(tmp.path, 0o755)
    await chmod(locked, 0o000)
    try {
      const as = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {}
      for (const args of [['cap-list'], ['ledger-verify'], ['snapshot-list']]) {
        const r = await os2(['--data-dir', locked, ...args], as)
        expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(1)
        expect(r.stderr).toMatch(/^error DATA_DIR_UNREADABLE: .*(EACCES|permission)/m)
      }
    } finally {
      await chmod(locked, 0o700)
    }
  })

  it('`os2` exits 1 with GENESIS_INVALID when genesis.json is corrupt', async () => {
    const broken = join(tmp.path, 'corrupt-genesis')
    expect((await os2(['--data-dir', broken, 'init'])).code).toBe(0)
    await writeFile(join(broken, 'genesis.json'), '{"version": 1, "seed": ')
    const r = await os2(['--data-dir', broken, '--json', 'cap-list'])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stderr).error.code).toBe('GENESIS_INVALID')
  })

  it('`os2 init` exits 1 with DATA_DIR_EXISTS and keeps the existing key and genesis', async () => {
    const before = await ledgerBytes(dir)
    const r = await os2(['--data-dir', dir, 'init', '--seed', '99'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error DATA_DIR_EXISTS: /m)
    expect((await ledgerBytes(dir)).equals(before)).toBe(true)
    expect(json(await os2(['--data-dir', dir, '--json', 'ledger-inspect', '--limit', '1']))).toMatchObject({ events: [{ type: 'genesis' }] })
  })
})
