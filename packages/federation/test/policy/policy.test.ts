import { describe, expect, it } from 'vitest'
import * as Y from 'yjs'
import { canonicalize } from '@os2/crypto'
import { encodeFederatedChange, signFederatedChange } from '../../src/bundle/federated-change.ts'
import { signRevocation } from '../../src/bundle/revocation.ts'
import { episodicView, kvView } from '../../src/memory/memory-views.ts'
import { grant, identity, operator, testNode, verdicts } from '../helpers.ts'
import type { FederatedChange } from '../../src/bundle/federated-change.ts'
import type { FederationGrant } from '../../src/policy/grant-book.ts'

const A = identity(1)
const B = identity(2)
const C = identity(3)
const X = identity(4)
const notes = { kind: 'kv', namespace: 'notes' } as const

function pair (grants: FederationGrant[] = [grant('gA', A.peerId), grant('gX', X.peerId)], maxBundleBytes?: number) {
  const a = testNode(A, grants)
  const b = testNode(B, grants, maxBundleBytes === undefined ? {} : { init: { maxBundleBytes } })
  return { a, b }
}

function put (node: ReturnType<typeof testNode>, key: string, value: number, ns = 'notes'): FederatedChange {
  const bundle = node.replica.write({ kind: 'kv', namespace: ns }, doc => { kvView(doc).set(key, value) })?.bundle
  if (bundle === undefined) throw new Error('expected a bundle')
  return bundle
}

function lastVerdict (node: ReturnType<typeof testNode>) {
  return verdicts(node).at(-1)
}

function rawUpdate (fn: (doc: Y.Doc) => void): Uint8Array {
  const doc = new Y.Doc()
  fn(doc)
  return Y.encodeStateAsUpdate(doc)
}

describe('bundle policy', () => {
  it('receive() accepts a signed, granted, in-order bundle, applies it and records the verdict and commit', () => {
    const { a, b } = pair()
    const bundle = put(a, 'k', 1)
    expect(b.replica.receive(encodeFederatedChange(bundle), A.peerId)).toMatchObject({ verdict: 'accepted', reason: null, seq: 1 })
    expect(b.replica.memories.canonical(notes)).toEqual({ k: 1 })
    expect(b.replica.vector()).toEqual({ [A.peerId]: 1 })
    expect(b.ledger.events().map(e => e.type)).toEqual(['federation.verdict', 'memory.commit'])
  })

  it('receive() rejects SIGNATURE_INVALID when the bundle was signed by a key other than its origin', () => {
    const { a, b } = pair()
    const good = put(a, 'k', 1)
    const forged = signFederatedChange({ ...good, update: Buffer.from(good.update, 'base64') }, C.keyPair)
    expect(b.replica.receive(encodeFederatedChange(forged))).toMatchObject({ verdict: 'rejected', reason: 'SIGNATURE_INVALID' })
    expect(lastVerdict(b)?.reason).toBe('SIGNATURE_INVALID')
    expect(b.replica.memories.canonicalAll()).toEqual({})
  })

  it('receive() rejects NO_GRANT from an origin without a grant or with a grant for another capability', () => {
    const { b } = pair([grant('gA', A.peerId, { capability: 'memory.vector.write' })])
    const c = testNode(C, [])
    expect(b.replica.receive(encodeFederatedChange(put(c, 'k', 1)))).toMatchObject({ reason: 'NO_GRANT' })
    const a = testNode(A, [grant('gA', A.peerId, { capability: 'memory.vector.write' })])
    expect(b.replica.receive(encodeFederatedChange(put(a, 'k', 1)))).toMatchObject({ reason: 'NO_GRANT' })
    expect(verdicts(b).map(v => v.reason)).toEqual(['NO_GRANT', 'NO_GRANT'])
  })

  it('receive() rejects GRANT_REVOKED once a signed revocation from the issuer was learned', () => {
    const { a, b } = pair()
    expect(b.replica.receive(encodeFederatedChange(put(a, 'k', 1))).verdict).toBe('accepted')
    expect(b.replica.receiveRevocation(signRevocation({ grant_id: 'gA', version: 2, tick: 3 }, operator))).toBe('applied')
    expect(b.replica.receive(encodeFederatedChange(put(a, 'k', 2)))).toMatchObject({ verdict: 'rejected', reason: 'GRANT_REVOKED' })
    expect(b.replica.memories.canonical(notes)).toEqual({ k: 1 })
  })

  it('receiveRevocation() ignores a revocation signed by someone other than the issuer', () => {
    const { a, b } = pair()
    expect(b.replica.receiveRevocation(signRevocation({ grant_id: 'gA', version: 2, tick: 3 }, C.keyPair))).toBe('wrong_issuer')
    expect(b.replica.receive(encodeFederatedChange(put(a, 'k', 1))).verdict).toBe('accepted')
  })

  it('receive() rejects GRANT_EXPIRED when the bundle tick is outside the grant window', () => {
    const { a, b } = pair([grant('gA', A.peerId, { validUntil: 5 })])
    a.tick.value = 7
    expect(b.replica.receive(encodeFederatedChange(put(a, 'k', 1)))).toMatchObject({ reason: 'GRANT_EXPIRED' })
  })

  it('receive() rejects OUT_OF_SCOPE for a namespace or key the grant does not cover', () => {
    const grants = [grant('gA', A.peerId, { scope: { namespaces: ['notes/pub-*', 'public'] } })]
    const { a, b } = pair(grants)
    expect(b.replica.receive(encodeFederatedChange(put(a, 'pub-1', 1))).verdict).toBe('accepted')
    expect(b.replica.receive(encodeFederatedChange(put(a, 'secret', 1)))).toMatchObject({ reason: 'OUT_OF_SCOPE' })
    const other = signFederatedChange({ origin: A.peerId, memory: 'kv:private', seq: 3, update: rawUpdate(doc => { doc.getMap('kv').set('x', 1) }), grant: { id: 'gA', version: 1 }, ledger_head: '0'.repeat(64), tick: 1 }, A.keyPair)
    expect(b.replica.receive(encodeFederatedChange(other))).toMatchObject({ reason: 'OUT_OF_SCOPE' })
    expect(b.replica.memories.canonical(notes)).toEqual({ 'pub-1': 1 })
  })

  it('receive() rejects OUT_OF_SCOPE for an update that touches a root outside its memory kind', () => {
    const { b } = pair()
    const update = rawUpdate(doc => { doc.getMap('kv').set('k', 1); doc.getMap('evil').set('x', 1) })
    const bundle = signFederatedChange({ origin: A.peerId, memory: 'kv:notes', seq: 1, update, grant: { id: 'gA', version: 1 }, ledger_head: '0'.repeat(64), tick: 1 }, A.keyPair)
    expect(b.replica.receive(encodeFederatedChange(bundle))).toMatchObject({ reason: 'OUT_OF_SCOPE' })
    expect(b.replica.memories.canonicalAll()).toEqual({})
  })

  it('receive() rejects OUT_OF_SCOPE for a deletion from an append-only episodic log', () => {
    const { a, b } = pair()
    const first = a.replica.write({ kind: 'episodic', namespace: 'log' }, doc => { episodicView(doc).append('e1') })?.bundle
    if (first === undefined) throw new Error('expected a bundle')
    expect(b.replica.receive(encodeFederatedChange(first)).verdict).toBe('accepted')
    const del = a.replica.write({ kind: 'episodic', namespace: 'log' }, doc => { doc.getArray('events').delete(0, 1) })?.bundle
    if (del === undefined) throw new Error('expected a bundle')
    expect(b.replica.receive(encodeFederatedChange(del))).toMatchObject({ reason: 'OUT_OF_SCOPE' })
    expect(b.replica.memories.canonical('episodic:log')).toEqual(['e1'])
    // The refusal used up seq 2 and the scratch document was rolled back: a later append applies.
    const next = a.replica.write({ kind: 'episodic', namespace: 'log' }, doc => { episodicView(doc).append('e2') })?.bundle
    if (next === undefined) throw new Error('expected a bundle')
    expect(b.replica.receive(encodeFederatedChange(next))).toMatchObject({ verdict: 'accepted', seq: 3 })
    expect(b.replica.memories.canonical('episodic:log')).toEqual(['e1', 'e2'])
  })

  it('receive() rejects REPLAYED for the same bundle twice and STALE_SEQ for a different bundle with an old seq', () => {
    const { a, b } = pair()
    const bytes = encodeFederatedChange(put(a, 'k', 1))
    b.replica.receive(bytes)
    expect(b.replica.receive(bytes)).toMatchObject({ verdict: 'rejected', reason: 'REPLAYED' })
    const other = signFederatedChange({ origin: A.peerId, memory: 'kv:notes', seq: 1, update: rawUpdate(doc => { doc.getMap('kv').set('z', 1) }), grant: { id: 'gA', version: 1 }, ledger_head: '0'.repeat(64), tick: 1 }, A.keyPair)
    expect(b.replica.receive(encodeFederatedChange(other))).toMatchObject({ verdict: 'rejected', reason: 'STALE_SEQ' })
    expect(b.replica.memories.canonical(notes)).toEqual({ k: 1 })
  })

  it('receive() rejects SIGNATURE_INVALID, not REPLAYED, for a copy of a decided bundle with a different signature', () => {
    const { a, b } = pair()
    const bundle = put(a, 'k', 1)
    b.replica.receive(encodeFederatedChange(bundle))
    const other = signFederatedChange({ ...bundle, update: Buffer.from(bundle.update, 'base64') }, C.keyPair)
    expect(other.bundle_id).toBe(bundle.bundle_id)
    expect(b.replica.receive(encodeFederatedChange({ ...bundle, signature: other.signature }))).toMatchObject({ reason: 'SIGNATURE_INVALID' })
  })

  it('receive() holds GAP_HELD bundles, asks for the missing seq, and applies them once the gap fills', () => {
    const { a, b } = pair()
    const b1 = put(a, 'k', 1)
    const b2 = put(a, 'k', 2)
    const b3 = put(a, 'j', 3)
    const wants: Array<[string, number]> = []
    b.replica.onWant((origin, from) => { wants.push([origin, from]) })
    expect(b.replica.receive(encodeFederatedChange(b3))).toMatchObject({ verdict: 'held', reason: 'GAP_HELD' })
    expect(b.replica.receive(encodeFederatedChange(b2))).toMatchObject({ verdict: 'held', reason: 'GAP_HELD' })
    expect(wants).toEqual([[A.peerId, 1], [A.peerId, 1]])
    expect(b.replica.heldCount()).toBe(2)
    expect(b.replica.receive(encodeFederatedChange(b1)).verdict).toBe('accepted')
    expect(b.replica.heldCount()).toBe(0)
    expect(b.replica.vector()).toEqual({ [A.peerId]: 3 })
    expect(b.replica.memories.fingerprint()).toBe(a.replica.memories.fingerprint())
  })

  it('receive() holds DEPS_HELD bundles that build on changes not yet received, then applies them', () => {
    const { a, b } = pair()
    const x = testNode(X, [grant('gA', A.peerId), grant('gX', X.peerId)])
    const a1 = put(a, 'k', 1)
    x.replica.receive(encodeFederatedChange(a1))
    const x1 = x.replica.write(notes, doc => { kvView(doc).delete('k'); kvView(doc).set('m', 2) })?.bundle
    if (x1 === undefined) throw new Error('expected a bundle')
    expect(b.replica.receive(encodeFederatedChange(x1))).toMatchObject({ verdict: 'held', reason: 'DEPS_HELD' })
    expect(b.replica.memories.canonicalAll()).toEqual({})
    expect(b.replica.receive(encodeFederatedChange(a1)).verdict).toBe('accepted')
    expect(b.replica.vector()).toEqual({ [A.peerId]: 1, [X.peerId]: 1 })
    expect(b.replica.memories.canonical(notes)).toEqual({ m: 2 })
    expect(b.replica.memories.fingerprint()).toBe(x.replica.memories.fingerprint())
  })

  it('receive() rejects OVERSIZED bundles above the limit', () => {
    const { a, b } = pair(undefined, 600)
    const bundle = a.replica.write(notes, doc => { kvView(doc).set('big', 'x'.repeat(2000)) })?.bundle
    if (bundle === undefined) throw new Error('expected a bundle')
    expect(b.replica.receive(encodeFederatedChange(bundle))).toMatchObject({ verdict: 'rejected', reason: 'OVERSIZED' })
  })

  it('receive() rejects MALFORMED garbage, a mismatched bundle id and an update that does not decode', () => {
    const { b } = pair()
    expect(b.replica.receive(Buffer.from('garbage'))).toMatchObject({ reason: 'MALFORMED', origin: null })
    const good = signFederatedChange({ origin: A.peerId, memory: 'kv:notes', seq: 1, update: rawUpdate(doc => { doc.getMap('kv').set('k', 1) }), grant: { id: 'gA', version: 1 }, ledger_head: '0'.repeat(64), tick: 1 }, A.keyPair)
    expect(b.replica.receive(Buffer.from(canonicalize({ ...good, bundle_id: 'a'.repeat(64) })))).toMatchObject({ reason: 'MALFORMED' })
    const junk = signFederatedChange({ origin: A.peerId, memory: 'kv:notes', seq: 1, update: new Uint8Array([255, 255, 255, 255, 9]), grant: { id: 'gA', version: 1 }, ledger_head: '0'.repeat(64), tick: 1 }, A.keyPair)
    expect(b.replica.receive(encodeFederatedChange(junk))).toMatchObject({ reason: 'MALFORMED' })
    // The authentic but undecodable bundle used up seq 1; seq 2 applies.
    expect(b.replica.receive(encodeFederatedChange(good))).toMatchObject({ reason: 'STALE_SEQ' })
    const next = signFederatedChange({ origin: A.peerId, memory: 'kv:notes', seq: 2, update: rawUpdate(doc => { doc.getMap('kv').set('k', 1) }), grant: { id: 'gA', version: 1 }, ledger_head: '0'.repeat(64), tick: 1 }, A.keyPair)
    expect(b.replica.receive(encodeFederatedChange(next)).verdict).toBe('accepted')
    expect(verdicts(b).map(v => v.reason)).toEqual(['MALFORMED', 'MALFORMED', 'MALFORMED', 'STALE_SEQ', null])
  })
})
