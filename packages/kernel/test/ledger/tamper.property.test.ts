import { describe, expect, it } from 'vitest'
import { createSeededRng } from '../../src/rng.ts'
import type { Rng } from '../../src/rng.ts'
import { createLedger, verifyEvents } from '../../src/ledger/index.ts'
import type { EventEnvelope } from '../../src/ledger/index.ts'
import { createFileLedgerStorage, verifyLedgerDir } from '../../node/index.ts'
import { openLedger } from '../../src/ledger/index.ts'
import { createMemoryFs } from './fixtures.ts'
import type { MemoryFs } from './fixtures.ts'

// Property: for random ledgers and one random tampering each, verification fails
// and names exactly the first seq the tampering touched; untouched ledgers verify.
// SEED=<n> replays one case; RUNS=<n> changes how many seeds are tried.

const RUNS = Number(process.env.RUNS ?? 60)
const seeds = process.env.SEED !== undefined ? [Number(process.env.SEED)] : Array.from({ length: RUNS }, (_, i) => 1000 + i)

function int (rng: Rng, n: number): number { return rng.nextUint32() % n }

function randomLedgerFs (rng: Rng): Promise<{ fs: MemoryFs, size: number }> {
  return (async () => {
    const fs = createMemoryFs()
    const ledger = await openLedger(createFileLedgerStorage('/l', { fs, segmentMaxEvents: 3 + int(rng, 8) }))
    const size = 2 + int(rng, 25)
    for (let i = 0; i < size; i++) {
      const payload: Record<string, unknown> = {}
      for (let k = 0; k < int(rng, 4); k++) payload[`f${int(rng, 9)}`] = int(rng, 3) === 0 ? 'ü\n"' + 'x'.repeat(int(rng, 30)) : int(rng, 1e6)
      ledger.append({ tick: int(rng, 100), type: ['custom', 'scheduled', 'alert'][int(rng, 3)] as string, token_id: int(rng, 2) === 0 ? null : `t${int(rng, 5)}`, payload: payload as EventEnvelope['payload'] })
      if (int(rng, 4) === 0) await ledger.flush()
    }
    await ledger.close()
    return { fs, size }
  })()
}

/** All lines across segments, with where each lives. */
function lines (fs: MemoryFs): Array<{ path: string, text: string }> {
  const out: Array<{ path: string, text: string }> = []
  for (const path of [...fs.files.keys()].filter(p => p.includes('segment-')).sort()) {
    const parts = Buffer.from(fs.files.get(path) as Uint8Array).toString('utf8').split('\n')
    parts.pop()
    for (const text of parts) out.push({ path, text })
  }
  return out
}

function rewrite (fs: MemoryFs, all: Array<{ path: string, text: string }>): void {
  const byPath = new Map<string, string>()
  for (const p of fs.files.keys()) if (p.includes('segment-')) byPath.set(p, '')
  for (const l of all) byPath.set(l.path, (byPath.get(l.path) ?? '') + l.text + '\n')
  for (const [p, text] of byPath) fs.files.set(p, Buffer.from(text))
}

describe('verifyLedgerDir() and verifyEvents() (property)', () => {
  it('name the first tampered seq for any single random tampering, and pass untouched ledgers', async () => {
    for (const seed of seeds) {
      const rng = createSeededRng(seed)
      try {
        const { fs, size } = await randomLedgerFs(rng)
        expect(await verifyLedgerDir('/l', { fs })).toMatchObject({ ok: true, size })
        const all = lines(fs)
        const events = all.map(l => JSON.parse(l.text) as EventEnvelope)
        expect(verifyEvents(events)).toMatchObject({ ok: true, size })
        const k = int(rng, size - 1)
        const op = ['flip', 'delete', 'duplicate', 'swap'][int(rng, 4)] as string
        const tampered = all.map(l => ({ ...l }))
        let expectedSeq = k
        if (op === 'flip') {
          const line = tampered[k] as { text: string }
          const bytes = Buffer.from(line.text)
          const at = int(rng, bytes.length)
          bytes[at] = (bytes[at] as number) ^ (1 << int(rng, 7))
          // Replacing a byte inside a multi-byte character can still decode to the same text only if nothing changed.
          line.text = bytes.toString('utf8')
          if (line.text === (all[k] as { text: string }).text) continue
        } else if (op === 'delete') {
          tampered.splice(k, 1)
        } else if (op === 'duplicate') {
          tampered.splice(k + 1, 0, { ...(tampered[k] as { path: string, text: string }) })
          expectedSeq = k + 1
        } else {
          const a = tampered[k] as { path: string, text: string }
          const b = tampered[k + 1] as { path: string, text: string }
          ;[a.text, b.text] = [b.text, a.text]
        }
        rewrite(fs, tampered)
        const r = await verifyLedgerDir('/l', { fs })
        expect(r, `${op} at ${k}`).toMatchObject({ ok: false, firstBadSeq: expectedSeq })
        if (op !== 'flip') {
          const objects = tampered.map(l => JSON.parse(l.text) as unknown)
          expect(verifyEvents(objects), `${op} at ${k}`).toMatchObject({ ok: false, firstBadSeq: expectedSeq })
        }
      } catch (err) {
        console.error(`tamper property failed with SEED=${seed}`)
        throw err
      }
    }
  })

  it('an untouched in-memory ledger always verifies', () => {
    for (const seed of seeds.slice(0, 20)) {
      const rng = createSeededRng(seed)
      const ledger = createLedger({})
      for (let i = 0; i < 1 + int(rng, 50); i++) ledger.append({ tick: i, type: 't', payload: { v: int(rng, 1000) } })
      expect(ledger.verify(), `SEED=${seed}`).toMatchObject({ ok: true, size: ledger.size, head: ledger.head })
    }
  })
})
