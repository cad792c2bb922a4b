/**
 * Crypto benchmarks, one JSON object each, project beside its baseline in the same run:
 * canonicalize + SHA-256 vs JSON.stringify + SHA-256; Ed25519 sign and verify (cached KeyObjects);
 * Merkle append vs raw SHA-256 of the same leaves; signed token round trip.
 * Run: npx tsx packages/crypto/bench/crypto.bench.ts
 */
import { hash } from 'node:crypto'
import { canonicalize, createMerkleTree, keyPairFromSeed, sha256Hex, signToken, verify, verifyToken } from '../src/index.ts'

function timeIt (n: number, f: (i: number) => void): number {
  let best = Infinity
  for (let r = 0; r < 5; r++) {
    const t0 = performance.now()
    for (let i = 0; i < n; i++) f(i)
    best = Math.min(best, performance.now() - t0)
  }
  return n / (best / 1000)
}

const N = 100_000
const envelopes = Array.from({ length: 1000 }, (_, i) => ({
  event_id: `ev-${i}`, seq: i, tick: i, type: 'custom', capability_id: 'memory.kv.write', token_id: `tok-${i}`,
  payload: { key: `k${i}`, value: { n: i, ok: true, tags: ['a', 'b'] } }, prev_hash: '0'.repeat(64)
}))

const stringify = timeIt(N, i => hash('sha256', JSON.stringify(envelopes[i % 1000]), 'hex'))
const canonical = timeIt(N, i => sha256Hex(canonicalize(envelopes[i % 1000])))
console.log(JSON.stringify({ bench: 'crypto.canonical-hash', baseline: { name: 'JSON.stringify + sha256', opsPerSec: Math.round(stringify) }, project: { name: 'canonicalize + sha256Hex', opsPerSec: Math.round(canonical) }, ratio: Number((canonical / stringify).toFixed(3)) }))

const kp = keyPairFromSeed(new Uint8Array(32).fill(1))
const msg = Buffer.from(canonicalize(envelopes[0]))
const sig = kp.sign(msg)
const signs = timeIt(5000, () => kp.sign(msg))
const verifies = timeIt(5000, () => verify(msg, sig, kp.publicKey))
console.log(JSON.stringify({ bench: 'crypto.ed25519', messageBytes: msg.length, signPerSec: Math.round(signs), verifyPerSec: Math.round(verifies) }))

const hashes = Array.from({ length: N }, (_, i) => hash('sha256', String(i), 'hex'))
const raw = timeIt(N, i => hash('sha256', Buffer.from(hashes[i] as string, 'hex'), 'hex'))
let tree = createMerkleTree()
const merkle = timeIt(N, i => {
  if (i === 0) tree = createMerkleTree()
  tree.appendHex(hashes[i] as string)
})
console.log(JSON.stringify({ bench: 'crypto.merkle-append', leaves: N, baseline: { name: 'one raw sha256 per leaf', leavesPerSec: Math.round(raw) }, project: { name: 'MerkleTree.appendHex (leaf hash + amortised node hash)', leavesPerSec: Math.round(merkle) }, ratio: Number((merkle / raw).toFixed(3)) }))

const claims = { snapshot: 'snap-1', head: 'ab'.repeat(32), seq: 42 }
let t0 = performance.now()
const tokens: string[] = []
for (let i = 0; i < 2000; i++) tokens.push(await signToken({ ...claims, seq: i }, kp))
const signTok = 2000 / ((performance.now() - t0) / 1000)
t0 = performance.now()
for (const t of tokens) await verifyToken(t, kp.publicKey)
const verifyTok = 2000 / ((performance.now() - t0) / 1000)
console.log(JSON.stringify({ bench: 'crypto.signed-token', signPerSec: Math.round(signTok), verifyPerSec: Math.round(verifyTok), baseline: { name: 'raw Ed25519 sign', opsPerSec: Math.round(signs) } }))
