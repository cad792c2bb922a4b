import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { keyPairFromSeed } from '@os2/crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { openLedger } from '../../src/ledger/index.ts'
import { createFileLedgerStorage, verifyLedgerDir } from '../../node/index.ts'
import { createMemoryFs, draft } from '../ledger/fixtures.ts'
import type { MemoryFs } from '../ledger/fixtures.ts'

const DIR = '/ledger'
const SEG0 = `${DIR}/segment-000000.jsonl`

async function memoryLedger (n: number, init: { segmentMaxEvents?: number } = {}): Promise<MemoryFs> {
  const fs = createMemoryFs()
  const ledger = await openLedger(createFileLedgerStorage(DIR, { ...init, fs }))
  for (let i = 0; i < n; i++) ledger.append(draft(i))
  await ledger.close()
  return fs
}

function withFile (fs: MemoryFs, path: string, bytes: Uint8Array): MemoryFs {
  const copy = createMemoryFs()
  for (const [k, v] of fs.files) copy.files.set(k, k === path ? bytes : v)
  return copy
}

/** Seq of the line holding byte `pos` (a line owns its trailing newline). */
function lineOf (bytes: Uint8Array, pos: number): number {
  let line = 0
  for (let i = 0; i < pos; i++) if (bytes[i] === 0x0a) line++
  return line
}

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

describe('verifyLedgerDir()', () => {
  it('passes an untouched ledger and reports size, head and segment count', async () => {
    const fs = await memoryLedger(12, { segmentMaxEvents: 5 })
    expect(await verifyLedgerDir(DIR, { fs })).toMatchObject({ ok: true, size: 12, segments: 3, checkpoints: 0 })
  })

  it('names the line of a single changed byte, wherever it is', async () => {
    const fs = await memoryLedger(16)
    const original = fs.files.get(SEG0) as Uint8Array
    let checked = 0
    // Every byte of events 0, 7 and 15 (the last), and every 13th byte elsewhere.
    const starts = [0, 7, 15].map(seq => { let l = 0; let i = 0; while (l < seq) { if (original[i] === 0x0a) l++; i++ } return i })
    for (let pos = 0; pos < original.length; pos++) {
      const seq = lineOf(original, pos)
      const full = starts.some((s, k) => pos >= s && seq === [0, 7, 15][k])
      if (!full && pos % 13 !== 0) continue
      for (const flip of [0x01, 0x20]) {
        const bytes = Uint8Array.from(original)
        bytes[pos] = (bytes[pos] as number) ^ flip
        const r = await verifyLedgerDir(DIR, { fs: withFile(fs, SEG0, bytes) })
        expect(r.ok, `byte ${pos} ^ ${flip} went unnoticed`).toBe(false)
        if (!r.ok) expect(r.firstBadSeq, `byte ${pos} ^ ${flip}: ${r.message}`).toBe(seq)
        checked++
      }
    }
    expect(checked).toBeGreaterThan(1000)
  })

  it('names the first bad seq for a deleted, duplicated or reordered line', async () => {
    const fs = await memoryLedger(20)
    const lines = Buffer.from(fs.files.get(SEG0) as Uint8Array).toString('utf8').split('\n')
    lines.pop()
    const variant = (ls: string[]): MemoryFs => withFile(fs, SEG0, Buffer.from(ls.join('\n') + '\n'))
    const deleted = lines.filter((_, i) => i !== 8)
    expect(await verifyLedgerDir(DIR, { fs: variant(deleted) })).toMatchObject({ ok: false, firstBadSeq: 8, reason: 'seq_mismatch' })
    const duplicated = [...lines.slice(0, 12), lines[11] as string, ...lines.slice(12)]
    expect(await verifyLedgerDir(DIR, { fs: variant(duplicated) })).toMatchObject({ ok: false, firstBadSeq: 12, reason: 'seq_mismatch' })
    const reordered = lines.slice()
    reordered[3] = lines[4] as string
    reordered[4] = lines[3] as string
    expect(await verifyLedgerDir(DIR, { fs: variant(reordered) })).toMatchObject({ ok: false, firstBadSeq: 3, reason: 'seq_mismatch' })
  })

  it('names the first bad seq after a cut in the middle of the file', async () => {
    const fs = await memoryLedger(20)
    const original = fs.files.get(SEG0) as Uint8Array
    // Bytes removed from the middle of event 5 to the middle of event 9: the lines fuse.
    const from = nthLineStart(original, 5) + 40
    const to = nthLineStart(original, 9) + 100
    const cut = Buffer.concat([original.subarray(0, from), original.subarray(to)])
    expect(await verifyLedgerDir(DIR, { fs: withFile(fs, SEG0, cut) })).toMatchObject({ ok: false, firstBadSeq: 5, reason: 'unparsable' })
    // The file cut short in the middle of event 11: reported, not repaired.
    const short = original.subarray(0, nthLineStart(original, 11) + 33)
    const copy = withFile(fs, SEG0, short)
    expect(await verifyLedgerDir(DIR, { fs: copy })).toMatchObject({ ok: false, firstBadSeq: 11, reason: 'truncated' })
    expect(copy.files.get(SEG0)?.length).toBe(short.length)
  })

  it('catches whole events cut from the end when a checkpoint covers them', async () => {
    const fs = createMemoryFs()
    const key = keyPairFromSeed(new Uint8Array(32).fill(4))
    const ledger = await openLedger(createFileLedgerStorage(DIR, { fs }))
    for (let i = 0; i < 10; i++) ledger.append(draft(i))
    ledger.checkpoint(key, 30)
    await ledger.close()
    expect(await verifyLedgerDir(DIR, { fs, publicKey: key.publicKey })).toMatchObject({ ok: true, checkpoints: 1 })
    const original = fs.files.get(SEG0) as Uint8Array
    const cut = original.subarray(0, nthLineStart(original, 7))
    expect(await verifyLedgerDir(DIR, { fs: withFile(fs, SEG0, cut) })).toMatchObject({ ok: false, firstBadSeq: 7, reason: 'truncated' })
  })

  it('fails with checkpoint_invalid for a forged or foreign checkpoint', async () => {
    const fs = createMemoryFs()
    const key = keyPairFromSeed(new Uint8Array(32).fill(4))
    const ledger = await openLedger(createFileLedgerStorage(DIR, { fs }))
    for (let i = 0; i < 10; i++) ledger.append(draft(i))
    ledger.checkpoint(key, 30)
    await ledger.close()
    const cpPath = `${DIR}/checkpoints.jsonl`
    const text = Buffer.from(fs.files.get(cpPath) as Uint8Array).toString()
    const forged = text.replace('"tick":30', '"tick":31')
    expect(await verifyLedgerDir(DIR, { fs: withFile(fs, cpPath, Buffer.from(forged)) })).toMatchObject({ ok: false, reason: 'checkpoint_invalid' })
    const other = keyPairFromSeed(new Uint8Array(32).fill(5))
    expect(await verifyLedgerDir(DIR, { fs, publicKey: other.publicKey })).toMatchObject({ ok: false, reason: 'checkpoint_invalid' })
  })

  it('works on real files, passes an empty dir and throws DATA_DIR_MISSING for a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'os2-verify-'))
    dirs.push(dir)
    await expect(verifyLedgerDir(join(dir, 'nope'))).rejects.toMatchObject({ code: 'DATA_DIR_MISSING' })
    expect(await verifyLedgerDir(dir)).toMatchObject({ ok: true, size: 0, segments: 0 })
    const ledger = await openLedger(createFileLedgerStorage(dir))
    for (let i = 0; i < 10; i++) ledger.append(draft(i))
    await ledger.close()
    expect(await verifyLedgerDir(dir)).toMatchObject({ ok: true, size: 10 })
    const path = join(dir, 'segment-000000.jsonl')
    const bytes = await readFile(path)
    const at = nthLineStart(bytes, 6) + 20
    bytes[at] = (bytes[at] as number) ^ 1
    await writeFile(path, bytes)
    expect(await verifyLedgerDir(dir)).toMatchObject({ ok: false, firstBadSeq: 6 })
  })
})

function nthLineStart (bytes: Uint8Array, n: number): number {
  let line = 0
  let i = 0
  while (line < n) {
    if (bytes[i] === 0x0a) line++
    i++
  }
  return i
}
