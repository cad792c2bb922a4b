import { canonicalize, createMerkleTree, keyPairFromSeed, sha256Hex, ZERO_HASH } from '@os2/crypto'
import { describe, expect, it } from 'vitest'
import {
  createLedger, createMemoryLedgerStorage, openLedger, verifyCheckpoint, verifyEventInclusion
} from '../../src/ledger/index.ts'
import type { EventEnvelope, LedgerStorage } from '../../src/ledger/index.ts'
import { KernelError } from '../../src/errors.ts'
import { verifyConsistency } from '@os2/crypto'
import { clone, draft, ledgerOf } from './fixtures.ts'

describe('createLedger()', () => {
  it('append() chains hashes: hash = SHA-256(canonical(envelope without hash)), genesis prev_hash 64 zeros', () => {
    const ledger = createLedger({})
    expect(ledger.size).toBe(0)
    expect(ledger.head).toBe(ZERO_HASH)
    const a = ledger.append(draft(0))
    const b = ledger.append(draft(1))
    expect(a.seq).toBe(0)
    expect(a.prev_hash).toBe(ZERO_HASH)
    const { hash, ...body } = a
    expect(hash).toBe(sha256Hex(canonicalize(body)))
    expect(b.seq).toBe(1)
    expect(b.prev_hash).toBe(a.hash)
    expect(b.hash).toBe(sha256Hex(canonicalize({ ...b, hash: undefined })))
    expect(ledger.head).toBe(b.hash)
    expect(ledger.size).toBe(2)
    expect(Object.keys(a).sort()).toEqual(['capability_id', 'event_id', 'hash', 'payload', 'prev_hash', 'seq', 'tick', 'token_id', 'type'])
  })

  it('append() fills deterministic event ids and defaults capability_id and token_id to null', () => {
    const ledger = createLedger({})
    const e = ledger.append({ tick: 4, type: 'alert', payload: { note: 'x' } })
    expect(e.event_id).toBe('ev-0')
    expect(e.capability_id).toBeNull()
    expect(e.token_id).toBeNull()
    expect(ledger.append({ tick: 4, type: 'alert', payload: {} }).event_id).toBe('ev-1')
  })

  it('append() gives byte-identical ledgers for the same drafts and different ones for different drafts', () => {
    const a = ledgerOf(50)
    const b = ledgerOf(50)
    expect(a.head).toBe(b.head)
    expect(a.root()).toBe(b.root())
    const c = createLedger({})
    for (let i = 0; i < 50; i++) c.append(i === 25 ? { ...draft(i), tick: 999 } : draft(i))
    expect(c.head).not.toBe(a.head)
    expect(c.get(24)?.hash).toBe(a.get(24)?.hash)
    expect(c.get(25)?.hash).not.toBe(a.get(25)?.hash)
  })

  it('append() rejects a negative or fractional tick with RangeError', () => {
    const ledger = createLedger({})
    expect(() => ledger.append({ ...draft(0), tick: -1 })).toThrow(RangeError)
    expect(() => ledger.append({ ...draft(0), tick: 1.5 })).toThrow(RangeError)
    expect(ledger.size).toBe(0)
  })

  it('events() and get() return envelopes by seq, with from/to bounds', () => {
    const ledger = ledgerOf(10)
    expect([...ledger.events()].map(e => e.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect([...ledger.events(3, 6)].map(e => e.seq)).toEqual([3, 4, 5])
    expect([...ledger.events(8, 100)].map(e => e.seq)).toEqual([8, 9])
    expect(ledger.get(10)).toBeUndefined()
    expect(ledger.get(4)?.seq).toBe(4)
  })

  it('root() is the RFC 6962 root over the event hashes, for the head and any past size', () => {
    const ledger = ledgerOf(37)
    const tree = createMerkleTree()
    for (const e of ledger.events()) tree.append(Buffer.from(e.hash, 'hex'))
    expect(ledger.root()).toBe(tree.root())
    for (const n of [0, 1, 2, 5, 16, 36]) expect(ledger.root(n)).toBe(tree.root(n))
  })

  it('verify() passes on an untouched ledger and names the head', () => {
    const ledger = ledgerOf(20)
    expect(ledger.verify()).toEqual({ ok: true, size: 20, head: ledger.head })
  })
})

describe('ledger proofs', () => {
  const ledger = ledgerOf(45)

  it('inclusionProof() verifies for every event and fails when the proof, the root or the event is altered', () => {
    for (let seq = 0; seq < 45; seq++) {
      const event = ledger.get(seq) as EventEnvelope
      const proof = ledger.inclusionProof(seq)
      expect(verifyEventInclusion(event, proof)).toBe(true)
      if (proof.path.length > 0) {
        const badPath = proof.path.slice()
        badPath[0] = (badPath[0] as string).replace(/^./, c => (c === 'a' ? 'b' : 'a'))
        expect(verifyEventInclusion(event, { ...proof, path: badPath })).toBe(false)
      }
      expect(verifyEventInclusion(event, { ...proof, root: ledger.root(44) })).toBe(false)
      const other = ledger.get((seq + 1) % 45) as EventEnvelope
      expect(verifyEventInclusion({ ...other, seq }, proof)).toBe(false)
      expect(verifyEventInclusion({ ...event, payload: { forged: true }, hash: sha256Hex('forged') }, proof)).toBe(false)
    }
  })

  it('inclusionProof() works against a past tree size', () => {
    const proof = ledger.inclusionProof(3, 10)
    expect(proof.treeSize).toBe(10)
    expect(proof.root).toBe(ledger.root(10))
    expect(verifyEventInclusion(ledger.get(3) as EventEnvelope, proof)).toBe(true)
  })

  it('consistencyProof() verifies between any two heads and fails when altered', () => {
    for (const [m, n] of [[1, 45], [7, 45], [16, 32], [30, 31], [44, 45], [10, 20]] as const) {
      const p = ledger.consistencyProof(m, n)
      expect(p.oldRoot).toBe(ledger.root(m))
      expect(p.newRoot).toBe(ledger.root(n))
      expect(verifyConsistency(p)).toBe(true)
      expect(verifyConsistency({ ...p, oldRoot: ledger.root(m === 1 ? 2 : m - 1) })).toBe(false)
      expect(verifyConsistency({ ...p, newRoot: ledger.root(n - 1) })).toBe(false)
      const badPath = p.path.slice()
      badPath[badPath.length - 1] = ZERO_HASH
      expect(verifyConsistency({ ...p, path: badPath })).toBe(false)
    }
  })
})

describe('Ledger.checkpoint()', () => {
  const key = keyPairFromSeed(new Uint8Array(32).fill(9))

  it('signs size, root and tick so that verifyCheckpoint() accepts it', () => {
    const ledger = ledgerOf(12)
    const cp = ledger.checkpoint(key, 77)
    expect(cp).toMatchObject({ size: 12, root: ledger.root(), tick: 77, publicKey: key.publicKey })
    expect(verifyCheckpoint(cp)).toBe(true)
    expect(verifyCheckpoint(cp, { publicKey: key.publicKey })).toBe(true)
    expect(ledger.checkpoints()).toEqual([cp])
  })

  it('verifyCheckpoint() fails when the size, root, tick, signature or key is altered', () => {
    const ledger = ledgerOf(12)
    const cp = ledger.checkpoint(key, 77)
    const other = keyPairFromSeed(new Uint8Array(32).fill(10))
    expect(verifyCheckpoint({ ...cp, size: 11 })).toBe(false)
    expect(verifyCheckpoint({ ...cp, root: ledger.root(11) })).toBe(false)
    expect(verifyCheckpoint({ ...cp, tick: 78 })).toBe(false)
    const sig = cp.signature
    expect(verifyCheckpoint({ ...cp, signature: (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1) })).toBe(false)
    expect(verifyCheckpoint({ ...cp, publicKey: other.publicKey })).toBe(false)
    expect(verifyCheckpoint(cp, { publicKey: other.publicKey })).toBe(false)
    expect(verifyCheckpoint({ ...cp, signature: 'short' })).toBe(false)
  })
})

describe('Ledger.flush()', () => {
  it('resolves at once and marks everything durable without storage', async () => {
    const ledger = ledgerOf(3)
    await ledger.flush()
    expect(ledger.durableSize).toBe(3)
  })

  it('writes all events appended since the last write in one storage append (group commit)', async () => {
    const storage = createMemoryLedgerStorage()
    const ledger = await openLedger(storage)
    const flushes: Array<Promise<void>> = []
    for (let i = 0; i < 100; i++) {
      ledger.append(draft(i))
      flushes.push(ledger.flush())
    }
    await Promise.all(flushes)
    // The first flush writes event 0; the 99 that piled up behind it go in one more write.
    expect(storage.writes).toBe(2)
    expect(storage.events.map(e => e.seq)).toEqual(Array.from({ length: 100 }, (_, i) => i))
    expect(ledger.durableSize).toBe(100)
  })

  it('stores checkpoints only after the events they cover', async () => {
    const storage = createMemoryLedgerStorage()
    const ledger = await openLedger(storage)
    for (let i = 0; i < 5; i++) ledger.append(draft(i))
    const cp = ledger.checkpoint(keyPairFromSeed(new Uint8Array(32).fill(1)), 5)
    expect(storage.checkpoints).toEqual([])
    await ledger.flush()
    expect(storage.events).toHaveLength(5)
    expect(storage.checkpoints).toEqual([cp])
  })

  it('rejects with LEDGER_IO when storage fails, and append() refuses afterwards', async () => {
    const failing: LedgerStorage = {
      async load () { return { events: [] } },
      async append () { throw new Error('disk full') },
      async close () {}
    }
    const ledger = await openLedger(failing)
    ledger.append(draft(0))
    const first = ledger.flush()
    ledger.append(draft(1))
    // Queued behind the failing round: it must fail too, not hang or resolve.
    const second = ledger.flush()
    await expect(first).rejects.toMatchObject({ code: 'LEDGER_IO' })
    await expect(second).rejects.toMatchObject({ code: 'LEDGER_IO' })
    await expect(ledger.flush()).rejects.toMatchObject({ code: 'LEDGER_IO' })
    expect(() => ledger.append(draft(2))).toThrow(KernelError)
    expect(ledger.durableSize).toBe(0)
  })
})

describe('openLedger()', () => {
  it('continues the stored chain and rebuilds the Merkle tree', async () => {
    const first = ledgerOf(30)
    const storage = createMemoryLedgerStorage([...first.events()])
    const ledger = await openLedger(storage)
    expect(ledger.size).toBe(30)
    expect(ledger.head).toBe(first.head)
    expect(ledger.root()).toBe(first.root())
    expect(ledger.durableSize).toBe(30)
    const next = ledger.append(draft(30))
    expect(next.seq).toBe(30)
    expect(next.prev_hash).toBe(first.head)
    expect(next.hash).toBe(ledgerOf(31).head)
    await ledger.flush()
    expect(storage.events).toHaveLength(31)
  })

  it('throws LEDGER_CHAIN_BROKEN with details.firstBadSeq when a stored event was altered', async () => {
    const events = clone([...ledgerOf(10).events()])
    ;(events[6] as EventEnvelope).tick = 1000
    const err = await openLedger(createMemoryLedgerStorage(events)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(KernelError)
    expect((err as KernelError).code).toBe('LEDGER_CHAIN_BROKEN')
    expect((err as KernelError).details?.firstBadSeq).toBe(6)
  })

  it('reports what the storage repaired', async () => {
    const events = [...ledgerOf(4).events()]
    const storage: LedgerStorage = {
      async load () { return { events, repaired: { segment: 'segment-000000.jsonl', droppedBytes: 17, atSeq: 4 } } },
      async append () {},
      async close () {}
    }
    const ledger = await openLedger(storage)
    expect(ledger.repaired).toEqual({ segment: 'segment-000000.jsonl', droppedBytes: 17, atSeq: 4 })
    expect(createLedger({}).repaired).toBeUndefined()
  })
})
