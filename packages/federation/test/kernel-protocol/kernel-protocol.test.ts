import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { encodeJsonFrame } from '../../src/kernel-protocol/wire.ts'
import { AttachError, createRemoteKernel, dialKernel } from '../../src/kernel-protocol/index.ts'
import type { KernelClient } from '../../src/kernel-protocol/index.ts'
import { identity } from '../helpers.ts'
import { grantAttach, startAttachNode } from './harness.ts'
import type { AttachNode } from './harness.ts'

const shell = identity(21)
const stranger = identity(22)
const admin = identity(23)

let node: AttachNode
const clients: KernelClient[] = []

async function dial (key = shell): Promise<KernelClient> {
  const c = await dialKernel(node.address, { privateKey: key.libp2pKey })
  clients.push(c)
  return c
}

async function codeOf (p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    expect(err).toBeInstanceOf(AttachError)
    return (err as AttachError).code
  }
  throw new Error('expected a rejection')
}

function alerts (reason: string, principal: string): number {
  return [...node.kernel.ledger.events()].filter(e => e.type === 'alert' && e.payload.reason === reason && e.payload.principal === principal).length
}

beforeAll(async () => {
  node = await startAttachNode(11, { maxRequestFrame: 64 * 1024, refusalRecordIntervalMs: 0, operators: [admin.peerId] })
}, 60_000)

afterAll(async () => {
  for (const c of clients) await c.close().catch(() => undefined)
  await node?.stop()
}, 60_000)

describe('mountKernelProtocol', () => {
  it('`dialKernel()` is refused with ATTACH_DENIED without a grant, and the refusal is in the node ledger', async () => {
    expect(await codeOf(dial(stranger))).toBe('ATTACH_DENIED')
    expect(alerts('attach_refused', stranger.peerId)).toBe(1)
    expect(node.kernel.ledger.verify().ok).toBe(true)
  })

  it('`dialKernel()` attaches as the shell peer id once it holds operator.attach', async () => {
    await grantAttach(node.kernel, shell.peerId)
    const c = await dial()
    expect(c.hello.principal).toBe(shell.peerId)
    expect(c.hello.operator).toBe(false)
    expect(c.hello.node).toBe(node.id.peerId)
    expect(c.hello.genesis).toEqual(node.kernel.genesis)
    expect(await c.call('ping')).toBe('pong')
  })

  it('`createRemoteKernel()` submits as the attached principal and mirrors state and ledger like the local kernel', async () => {
    await node.kernel.handle({ type: 'GrantCapability', grant: { principal: shell.peerId, capability: 'kernel.state.put', scope: { namespaces: ['notes'] } } })
    const remote = await createRemoteKernel(await dial())
    // The shell fills in the operator by default; attached, it acts as itself.
    const res = await remote.handle({ type: 'SubmitToken', from: remote.genesis.operator, token: { id: 'put-1', capability: 'kernel.state.put', principal: remote.genesis.operator, args: { namespace: 'notes', key: 'a', value: 42 } } })
    expect(res.disposition).not.toBe('rejected')
    await remote.runUntilIdle()
    expect(remote.token('put-1')?.state).toBe('completed')
    expect(remote.token('put-1')?.token.principal).toBe(shell.peerId)
    expect(remote.kv('notes')).toEqual(node.kernel.kv('notes'))
    expect(remote.kv('notes')).toEqual([{ namespace: 'notes', key: 'a', value: 42 }])
    expect(remote.capabilities()).toEqual(node.kernel.capabilities())
    expect(remote.grants()).toEqual(node.kernel.grants())
    expect(remote.stateHash()).toBe(node.kernel.stateHash())
    expect(remote.ledger.size).toBe(node.kernel.ledger.size)
    expect(remote.ledger.head).toBe(node.kernel.ledger.head)
    expect(remote.ledger.root()).toBe(node.kernel.ledger.root())
    expect(remote.ledger.inclusionProof(3)).toEqual(node.kernel.ledger.inclusionProof(3))
    expect(remote.ledger.consistencyProof(2)).toEqual(node.kernel.ledger.consistencyProof(2))
    expect(await remote.verifyOnNode()).toEqual(node.kernel.ledger.verify())
  })

  it('`handle` answers PRINCIPAL_MISMATCH when a non-operator submits for someone else, and GrantCapability is denied by the kernel', async () => {
    const c = await dial()
    const token = { id: 'put-x', capability: 'kernel.state.put', principal: 'someone-else', args: { namespace: 'notes', key: 'b', value: 1 } }
    expect(await codeOf(c.call('handle', { request: { type: 'SubmitToken', token } }))).toBe('PRINCIPAL_MISMATCH')
    expect(node.kernel.token('put-x')).toBeUndefined()
    expect(alerts('attach_principal_mismatch', shell.peerId)).toBeGreaterThanOrEqual(1)
    const grant = await c.call<{ disposition: string, error?: { code: string } }>('handle', { request: { type: 'GrantCapability', grant: { principal: shell.peerId, capability: 'kernel.state.put' } } })
    expect(grant.disposition).toBe('rejected')
    expect(grant.error?.code).toBe('CAPABILITY_DENIED')
    expect(await codeOf(c.call('snapshotAuth', { id: 'x' }))).toBe('OPERATOR_ONLY')
  })

  it('bad frames get BAD_FRAME, UNKNOWN_OP, BAD_ARGS answers and the session keeps serving', async () => {
    const c = await dial()
    expect(await c.raw(Buffer.from('not json at all'))).toMatchObject({ id: null, ok: false, error: { code: 'BAD_FRAME' } })
    expect(await c.raw(encodeJsonFrame({ hello: 1 }))).toMatchObject({ id: null, ok: false, error: { code: 'BAD_FRAME' } })
    expect(await c.raw(encodeJsonFrame({ id: 7, op: 'nope' }))).toMatchObject({ id: 7, ok: false, error: { code: 'UNKNOWN_OP' } })
    expect(await c.raw(encodeJsonFrame({ id: 8, op: 'events', args: { from: -1 } }))).toMatchObject({ id: 8, ok: false, error: { code: 'BAD_ARGS' } })
    expect(await codeOf(c.call('handle', { request: { type: 'SubmitToken', token: { id: 1 } } }))).toBe('BAD_ARGS')
    expect(await c.call('ping')).toBe('pong')
    expect(node.mounted.stats.badFrames).toBeGreaterThanOrEqual(2)
  })

  it('an oversized frame is answered FRAME_TOO_LARGE, the stream closes and the node keeps serving others', async () => {
    const c = await dial()
    const big = encodeJsonFrame({ id: 9, op: 'ping', args: { pad: 'x'.repeat(100 * 1024) } })
    expect(await c.raw(big)).toMatchObject({ id: null, ok: false, error: { code: 'FRAME_TOO_LARGE' } })
    expect(await codeOf(c.call('ping'))).toBe('CONNECTION_CLOSED')
    const again = await dial()
    expect(await again.call('ping')).toBe('pong')
  })

  it('revoking operator.attach refuses the very next frame of an open session and records it', async () => {
    const c = await dial()
    expect(await c.call('ping')).toBe('pong')
    const grant = node.kernel.grants().find(g => g.principal === shell.peerId && g.capability === 'operator.attach' && !g.revoked)
    expect(grant).toBeDefined()
    const before = alerts('attach_refused', shell.peerId)
    const revoked = await node.kernel.handle({ type: 'RevokeCapability', grantId: grant?.id ?? '' })
    expect(revoked.disposition).not.toBe('rejected')
    expect(await codeOf(c.call('view'))).toBe('ATTACH_DENIED')
    expect(alerts('attach_refused', shell.peerId)).toBe(before + 1)
    expect(await codeOf(dial())).toBe('ATTACH_DENIED')
  })

  it('an operator key attaches as the genesis operator without a grant and may sign snapshots', async () => {
    const remote = await createRemoteKernel(await dial(admin))
    expect(remote.isOperator).toBe(true)
    expect(remote.principal).toBe(node.kernel.genesis.operator)
    const snap = await remote.snapshots.create('attached')
    expect(snap.label).toBe('attached')
    expect((await remote.snapshots.list()).map(s => s.id)).toEqual((await node.kernel.snapshots.list()).map(s => s.id))
    expect(typeof await remote.snapshots.auth(snap.id)).toBe('string')
    expect(remote.ledger.head).toBe(node.kernel.ledger.head)
  })
})
