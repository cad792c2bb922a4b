import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { generateKeyPair } from '@os2/crypto'
import { mountKernelProtocol, nodeIdentity } from '@os2/federation'
import type { Libp2p } from '@libp2p/interface'
import type { MountedKernelProtocol } from '@os2/federation'
import type { OpenedDataDir } from '../../src/backend.ts'
import { createNodeBackend } from '../../src/node-backend.ts'
import { json, os2, tempDir } from './harness.ts'

let tmp: { path: string, cleanup: () => Promise<void> }
let nodeDir: string
let localDir: string
let shellDir: string
let opened: OpenedDataDir
let libp2p: Libp2p
let mounted: MountedKernelProtocol
let address: string
let operatorId: string
const operatorKey = (): string => join(tmp.path, 'operator.key')
const strangerKey = (): string => join(tmp.path, 'stranger.key')

/** The same command, attached as the operator and locally on a data dir made from the same seed. */
async function both (args: string[], stdin?: string): Promise<{ attached: Awaited<ReturnType<typeof os2>>, local: Awaited<ReturnType<typeof os2>> }> {
  const attached = await os2(['--attach', address, '--key', operatorKey(), '--data-dir', shellDir, ...args], stdin !== undefined ? { stdin } : {})
  const local = await os2(['--data-dir', localDir, ...args], stdin !== undefined ? { stdin } : {})
  return { attached, local }
}

function alerts (reason: string, principal: string): number {
  return [...opened.kernel.ledger.events()].filter(e => e.type === 'alert' && e.payload.reason === reason && e.payload.principal === principal).length
}

beforeAll(async () => {
  tmp = await tempDir('os2-attach-')
  nodeDir = join(tmp.path, 'node')
  localDir = join(tmp.path, 'local')
  shellDir = join(tmp.path, 'shell')
  for (const dir of [nodeDir, localDir]) expect((await os2(['--data-dir', dir, 'init', '--seed', '5'])).code).toBe(0)
  const who = await os2(['--data-dir', shellDir, '--key', operatorKey(), 'whoami', '--json'])
  expect(who.code).toBe(0)
  operatorId = json<{ principal: string }>(who).principal
  opened = await createNodeBackend().open(nodeDir)
  libp2p = await createLibp2p({
    privateKey: nodeIdentity(generateKeyPair()).libp2pKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 10_000 }
  })
  await libp2p.start()
  mounted = await mountKernelProtocol(libp2p, { kernel: opened.kernel as never }, { operators: [operatorId], publicKey: opened.publicKey, refusalRecordIntervalMs: 0 })
  address = libp2p.getMultiaddrs()[0]?.toString() ?? ''
  expect(address).toMatch(/\/p2p\//)
}, 120_000)

afterAll(async () => {
  await mounted?.unmount().catch(() => undefined)
  await Promise.resolve(libp2p?.stop()).catch(() => undefined)
  await opened?.kernel.close().catch(() => undefined)
  await tmp?.cleanup()
}, 120_000)

describe('os2 --attach', () => {
  it('`whoami` prints the same principal on every run and keeps the key at mode 0600', async () => {
    const again = json<{ principal: string, created: boolean, keyFile: string }>(await os2(['--data-dir', shellDir, '--key', operatorKey(), 'whoami', '--json']))
    expect(again.principal).toBe(operatorId)
    expect(again.created).toBe(false)
    const { stat } = await import('node:fs/promises')
    expect((await stat(operatorKey())).mode & 0o777).toBe(0o600)
  })

  it('submit, cap-list, ledger-inspect, snapshot-create and snapshot-list attached give the same results as local', async () => {
    const granted = await both(['cap-grant', '--principal', 'operator', '--capability', 'kernel.state.put', '--namespaces', 'notes', '--json'])
    expect(granted.attached.code, granted.attached.stderr).toBe(0)
    expect(json(granted.attached)).toEqual(json(granted.local))
    const submit = await both(['submit', '--id', 't1', '--capability', 'kernel.state.put', '--args', '{"namespace":"notes","key":"a","value":1}', '--json'])
    expect(submit.local.code, submit.local.stderr).toBe(0)
    expect(submit.attached.code, submit.attached.stderr).toBe(0)
    expect(json(submit.attached)).toEqual(json(submit.local))
    for (const args of [['cap-list', '--json'], ['grant-list', '--json'], ['ledger-inspect', '--json'], ['snapshot-create', '--label', 's1', '--json'], ['snapshot-list', '--json'], ['token-show', 't1', '--json']]) {
      const r = await both(args)
      expect(r.attached.code, `${args.join(' ')}: ${r.attached.stderr}`).toBe(r.local.code)
      expect(json(r.attached), args.join(' ')).toEqual(json(r.local))
    }
    const verify = await os2(['--attach', address, '--key', operatorKey(), '--data-dir', shellDir, 'ledger-verify', '--json'])
    expect(verify.code).toBe(0)
    expect(opened.kernel.ledger.verify().ok).toBe(true)
  }, 300_000)

  it('`pyx` runs Python on the node and prints its output like the local shell', async () => {
    const r = await both(['pyx', '6 * 7'])
    expect(r.local.code, r.local.stderr).toBe(0)
    expect(r.attached.code, r.attached.stderr).toBe(0)
    expect(r.attached.stdout).toBe('42\n')
    expect(r.attached.stdout).toBe(r.local.stdout)
    // Same seed, same requests: the node's ledger and the local one end at the same head.
    const local = json<{ events: Array<{ hash: string }> }>(await os2(['--data-dir', localDir, 'ledger-inspect', '--json']))
    expect(opened.kernel.ledger.head).toBe(local.events.at(-1)?.hash)
  }, 120_000)

  it('a shell without a grant is refused, the refusal is in the node ledger; granted it attaches; revoked it is refused again', async () => {
    const who = json<{ principal: string }>(await os2(['--data-dir', shellDir, '--key', strangerKey(), 'whoami', '--json']))
    const refused = await os2(['--attach', address, '--key', strangerKey(), '--data-dir', shellDir, 'cap-list'])
    expect(refused.code).toBe(1)
    expect(refused.stderr).toMatch(/^error ATTACH_DENIED: .*operator\.attach/)
    expect(alerts('attach_refused', who.principal)).toBe(1)

    const grant = await os2(['--attach', address, '--key', operatorKey(), '--data-dir', shellDir, 'cap-grant', '--principal', who.principal, '--capability', 'operator.attach', '--json'])
    expect(grant.code, grant.stderr).toBe(0)
    const listed = await os2(['--attach', address, '--key', strangerKey(), '--data-dir', shellDir, 'cap-list', '--json'])
    expect(listed.code, listed.stderr).toBe(0)
    expect(json<{ capabilities: unknown[] }>(listed).capabilities.length).toBeGreaterThan(5)

    // Attached as itself, a non-operator cannot grant.
    const selfGrant = await os2(['--attach', address, '--key', strangerKey(), '--data-dir', shellDir, 'cap-grant', '--principal', who.principal, '--capability', 'kernel.state.put'])
    expect(selfGrant.code).toBe(1)
    expect(selfGrant.stderr).toMatch(/CAPABILITY_DENIED|REQUEST_REJECTED/)

    const grantId = opened.kernel.grants().find(g => g.principal === who.principal && g.capability === 'operator.attach' && !g.revoked)?.id ?? ''
    const revoke = await os2(['--attach', address, '--key', operatorKey(), '--data-dir', shellDir, 'cap-revoke', grantId])
    expect(revoke.code, revoke.stderr).toBe(0)
    const again = await os2(['--attach', address, '--key', strangerKey(), '--data-dir', shellDir, 'cap-list'])
    expect(again.code).toBe(1)
    expect(again.stderr).toMatch(/ATTACH_DENIED/)
    expect(alerts('attach_refused', who.principal)).toBe(2)
  }, 300_000)

  it('`repl` runs one command per line against the attached node', async () => {
    const r = await os2(['--attach', address, '--key', operatorKey(), '--data-dir', shellDir, 'repl'], { stdin: 'snapshot-list --json\n# a comment\ncap-show operator.attach --json\nbogus-command\nexit\ncap-list\n' })
    expect(r.stdout).toContain('"snapshots"')
    expect(r.stdout).toContain('"operator.attach"')
    expect(r.stderr).toMatch(/error USAGE: .*bogus-command/)
    // `exit` stopped the loop: the last command before it failed, cap-list never ran.
    expect(r.stdout).not.toContain('tokens charged')
    expect(r.code).toBe(1)
  }, 120_000)

  it('an unreachable node is a clear CONNECTION_CLOSED error, exit 1', async () => {
    const r = await os2(['--attach', '/ip4/127.0.0.1/tcp/1/p2p/' + operatorId, '--key', operatorKey(), '--data-dir', shellDir, 'cap-list'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error CONNECTION_CLOSED: Cannot attach to/)
  })
})
