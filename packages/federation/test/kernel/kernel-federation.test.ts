import { afterEach, describe, expect, it } from 'vitest'
import { kvView } from '../../src/memory/memory-views.ts'
import { identity } from '../helpers.ts'
import { grantTo, invoke, openKernelNode } from './kernel-node.ts'
import type { KernelNode } from './kernel-node.ts'
import type { FederatedChange } from '../../src/bundle/federated-change.ts'

const open: KernelNode[] = []
afterEach(async () => { for (const node of open.splice(0)) await node.close().catch(() => undefined) })

async function pair (): Promise<{ a: KernelNode, b: KernelNode, sent: Uint8Array[] }> {
  const a = await openKernelNode(identity(21))
  const b = await openKernelNode(identity(22))
  open.push(a, b)
  const sent: Uint8Array[] = []
  a.replica.onBundle((bytes, _bundle, from) => { if (from === null) sent.push(bytes) })
  await grantTo(a, a.genesis.operator, 'memory.kv.write', ['notes', 'private'])
  return { a, b, sent }
}

async function verdictEvents (node: KernelNode): Promise<Array<Record<string, unknown>>> {
  await node.federation.ledger.flush()
  return [...node.kernel.ledger.events()].filter(e => e.type === 'federation.verdict').map(e => e.payload)
}

describe('createKernelFederation()', () => {
  it('refuses a bundle from a peer the kernel holds no grant for, with a federation.verdict event in the kernel ledger', async () => {
    const { a, b, sent } = await pair()
    await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { x: 1 } })
    const verdict = b.replica.receive(sent[0]!, a.id.peerId)
    expect(verdict).toMatchObject({ verdict: 'rejected', reason: 'NO_GRANT' })
    expect(await verdictEvents(b)).toEqual([expect.objectContaining({ verdict: 'rejected', reason: 'NO_GRANT', origin: a.id.peerId, seq: 1 })])
  })

  it('merges a peer\'s bundle under a kernel grant to its peer id, and refuses namespaces outside it', async () => {
    const { a, b, sent } = await pair()
    await grantTo(b, a.id.peerId, 'memory.kv.write', ['notes'])
    await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { x: 1 } })
    await invoke(a, 'memory.kv.write', { namespace: 'private', set: { y: 2 } })
    expect(b.replica.receive(sent[0]!).verdict).toBe('accepted')
    expect(b.replica.receive(sent[1]!)).toMatchObject({ verdict: 'rejected', reason: 'OUT_OF_SCOPE' })
    expect(kvView(b.replica.memories.doc('kv:notes')).get('x')).toBe(1)
    expect(b.replica.memories.canonicalAll()).toEqual({ 'kv:notes': { x: 1 } })
    const events = await verdictEvents(b)
    expect(events.map(e => [e.verdict, e.reason])).toEqual([['accepted', null], ['rejected', 'OUT_OF_SCOPE']])
    // The merged remote change is a commit in b's ledger too.
    expect([...b.kernel.ledger.events()].filter(e => e.type === 'memory.commit').map(e => e.payload.author)).toEqual([a.id.peerId])
  })

  it('refuses bundles once the kernel grant is revoked, and a forged signature never reaches the grant check', async () => {
    const { a, b, sent } = await pair()
    const g = await grantTo(b, a.id.peerId, 'memory.federate')
    await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { x: 1 } })
    await invoke(a, 'memory.kv.write', { namespace: 'notes', set: { x: 2 } })
    expect(b.replica.receive(sent[0]!).verdict).toBe('accepted')
    await b.kernel.handle({ type: 'RevokeCapability', grantId: g })
    const forged = JSON.parse(Buffer.from(sent[1]!).toString('utf8')) as FederatedChange
    forged.signature = forged.signature.slice(0, -2) + (forged.signature.endsWith('AA') ? 'BA' : 'AA')
    expect(b.replica.receive(Buffer.from(JSON.stringify(forged)))).toMatchObject({ reason: 'SIGNATURE_INVALID' })
    expect(b.replica.receive(sent[1]!)).toMatchObject({ verdict: 'rejected', reason: 'GRANT_REVOKED' })
    expect((await verdictEvents(b)).map(e => e.reason)).toEqual([null, 'SIGNATURE_INVALID', 'GRANT_REVOKED'])
  })
})
