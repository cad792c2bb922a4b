import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { dialKernel } from '@os2/federation'
import { loadShellIdentity } from '../../src/attach-backend.ts'
import { json, os2, REPO, tempDir } from './harness.ts'

/**
 * The shell attached to a real `os2-node` daemon process (apps/node), which
 * mounts /os2/kernel/1.0.0 with the operator keys from its node.toml.
 */
let tmp: { path: string, cleanup: () => Promise<void> }
let daemon: ChildProcess | undefined
let address = ''
let operatorId = ''
const shellDir = (): string => join(tmp.path, 'shell')
const opKey = (): string => join(tmp.path, 'operator.key')
const otherKey = (): string => join(tmp.path, 'other.key')
const asOperator = async (args: string[]): Promise<Awaited<ReturnType<typeof os2>>> => await os2(['--attach', address, '--key', opKey(), '--data-dir', shellDir(), ...args])
const asOther = async (args: string[]): Promise<Awaited<ReturnType<typeof os2>>> => await os2(['--attach', address, '--key', otherKey(), '--data-dir', shellDir(), ...args])

beforeAll(async () => {
  tmp = await tempDir('os2-attach-daemon-')
  operatorId = json<{ principal: string }>(await os2(['--data-dir', shellDir(), '--key', opKey(), 'whoami', '--json'])).principal
  const config = join(tmp.path, 'node.toml')
  await writeFile(config, [
    'cluster = "attach"', 'node = "a"', `data_dir = "${join(tmp.path, 'node')}"`, 'seed = 9',
    '[federation]', 'listen = ["/ip4/127.0.0.1/tcp/0"]',
    '[attach]', 'listen = ["/ip4/127.0.0.1/tcp/0"]', `operators = ["${operatorId}"]`,
    '[metrics]', 'address = "127.0.0.1:0"',
    '[log]', 'level = "info"'
  ].join('\n') + '\n')
  const child = spawn(process.execPath, [join(REPO, 'apps/node/bin/os2-node.js'), '--config', config], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] })
  daemon = child
  let stderr = ''
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`os2-node did not get ready in 120 s: ${stderr.slice(-2000)}`)) }, 120_000)
    child.on('exit', code => { clearTimeout(timer); reject(new Error(`os2-node exited ${String(code)}: ${stderr.slice(-2000)}`)) })
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', line => {
      try {
        const msg = JSON.parse(line) as { msg?: string, attach?: string[] }
        const addr = msg.attach?.find(a => a.includes('/p2p/'))
        if (msg.msg === 'node ready' && addr !== undefined) { clearTimeout(timer); resolve(addr) }
      } catch {
        // not a log line
      }
    })
  })
}, 180_000)

afterAll(async () => {
  if (daemon !== undefined && daemon.exitCode === null) {
    const exited = new Promise(resolve => daemon?.once('exit', resolve))
    daemon.kill('SIGTERM')
    const timer = setTimeout(() => { daemon?.kill('SIGKILL') }, 20_000)
    await exited
    clearTimeout(timer)
  }
  await tmp?.cleanup()
}, 60_000)

describe('os2 --attach to os2-node', () => {
  it('a key without a grant is refused; the operator sees the refusal in the node ledger', async () => {
    const other = json<{ principal: string }>(await os2(['--data-dir', shellDir(), '--key', otherKey(), 'whoami', '--json'])).principal
    const refused = await asOther(['cap-list'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error ATTACH_DENIED: /)
    const events = json<{ events: Array<{ type: string, payload: Record<string, unknown> }> }>(await asOperator(['ledger-inspect', '--json'])).events
    expect(events.some(e => e.type === 'alert' && e.payload.reason === 'attach_refused' && e.payload.principal === other)).toBe(true)
  }, 180_000)

  it('the operator grants operator.attach and kernel.state.put; the shell submits as itself; revoked, it is refused', async () => {
    const other = json<{ principal: string }>(await os2(['--data-dir', shellDir(), '--key', otherKey(), 'whoami', '--json'])).principal
    expect((await asOperator(['cap-grant', '--principal', other, '--capability', 'operator.attach'])).code).toBe(0)
    expect((await asOperator(['cap-grant', '--principal', other, '--capability', 'kernel.state.put', '--namespaces', 'mine'])).code).toBe(0)
    const submitted = await asOther(['submit', '--id', 'other-1', '--capability', 'kernel.state.put', '--args', '{"namespace":"mine","key":"k","value":7}', '--json'])
    expect(submitted.code, submitted.stderr).toBe(0)
    const token = json<{ token: { state: string, token: { principal: string } } }>(submitted).token
    expect(token.state).toBe('completed')
    expect(token.token.principal).toBe(other)
    const grantId = json<{ grants: Array<{ id: string, principal: string, capability: string, revoked: boolean }> }>(await asOperator(['grant-list', '--json']))
      .grants.find(g => g.principal === other && g.capability === 'operator.attach' && !g.revoked)?.id ?? ''
    expect((await asOperator(['cap-revoke', grantId])).code).toBe(0)
    const again = await asOther(['token-show', 'other-1'])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/ATTACH_DENIED/)
  }, 180_000)

  it('a burst of attached sessions from one host is served (libp2p alone refuses a sixth connection per second)', async () => {
    const { libp2pKey } = await loadShellIdentity(opKey())
    for (let i = 0; i < 12; i++) {
      const client = await dialKernel(address, { privateKey: libp2pKey })
      expect(client.hello.principal).toBeTruthy()
      await client.close()
    }
  }, 120_000)

  it('snapshots and Python work attached to the daemon', async () => {
    const snap = await asOperator(['snapshot-create', '--label', 'attached', '--json'])
    expect(snap.code, snap.stderr).toBe(0)
    expect(JSON.stringify(json(await asOperator(['snapshot-list', '--json'])))).toContain('"attached"')
    const py = await asOperator(['pyx', '2 ** 10'])
    expect(py.code, py.stderr).toBe(0)
    expect(py.stdout).toBe('1024\n')
    const verify = await asOperator(['ledger-verify', '--json'])
    expect(verify.code, verify.stderr).toBe(0)
    // Re-executing a ledger that holds a Python token needs the node's own descriptors on the server side.
    const replay = await asOperator(['ledger-verify', '--replay', '--json'])
    expect(replay.code, replay.stderr + replay.stdout).toBe(0)
  }, 240_000)
})
