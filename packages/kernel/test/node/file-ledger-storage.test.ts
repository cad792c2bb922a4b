import { appendFile, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canonicalize, keyPairFromSeed } from '@os2/crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { KernelError } from '../../src/errors.ts'
import { openLedger } from '../../src/ledger/index.ts'
import { createFileLedgerStorage, verifyLedgerDir } from '../../node/index.ts'
import { createMemoryFs, draft, ledgerOf } from '../ledger/fixtures.ts'

const dirs: string[] = []
async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'os2-ledger-'))
  dirs.push(d)
  return d
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

/** Writes `n` events through a real file storage and returns the dir. */
async function writeLedger (n: number, init: Parameters<typeof createFileLedgerStorage>[1] = {}): Promise<string> {
  const dir = await tempDir()
  const ledger = await openLedger(createFileLedgerStorage(dir, init))
  for (let i = 0; i < n; i++) ledger.append(draft(i))
  await ledger.close()
  return dir
}

const SEG0 = 'segment-000000.jsonl'

describe('createFileLedgerStorage()', () => {
  it('stores one canonical envelope per line and reopens to the same head and root', async () => {
    const dir = await writeLedger(25)
    const text = await readFile(join(dir, SEG0), 'utf8')
    const reference = ledgerOf(25)
    const lines = text.split('\n')
    expect(lines.pop()).toBe('')
    expect(lines).toHaveLength(25)
    expect(JSON.parse(lines[3] as string)).toEqual(reference.get(3))
    for (let i = 0; i < 25; i++) expect(lines[i]).toBe(canonicalize(reference.get(i)))
    const ledger = await openLedger(createFileLedgerStorage(dir))
    expect(ledger.size).toBe(25)
    expect(ledger.head).toBe(reference.head)
    expect(ledger.root()).toBe(reference.root())
    expect(ledger.repaired).toBeUndefined()
    await ledger.close()
  })

  it('rolls segments at segmentMaxEvents and segmentMaxBytes and reads them back in order', async () => {
    const dir = await writeLedger(23, { segmentMaxEvents: 5 })
    expect((await readdir(dir)).sort()).toEqual([0, 1, 2, 3, 4].map(i => `segment-00000${i}.jsonl`))
    const byBytes = await writeLedger(10, { segmentMaxBytes: 700 })
    const segs = (await readdir(byBytes)).filter(n => n.startsWith('segment-'))
    expect(segs.length).toBeGreaterThan(2)
    for (const d of [dir, byBytes]) {
      const ledger = await openLedger(createFileLedgerStorage(d, { segmentMaxEvents: 5 }))
      expect(ledger.head).toBe(ledgerOf(d === dir ? 23 : 10).head)
      ledger.append(draft(ledger.size))
      await ledger.close()
      expect((await verifyLedgerDir(d)).ok).toBe(true)
    }
  })

  it('append() coalesces concurrent appends into one write and one fdatasync per round (group commit)', async () => {
    const fs = createMemoryFs()
    const storage = createFileLedgerStorage('/ledger', { fs })
    await storage.load()
    const events = [...ledgerOf(1000).events()]
    // 1000 appends in flight at once, one event each.
    await Promise.all(events.map(e => storage.append([e])))
    // At most: round 1 takes what was queued when writing began, round 2 everything queued behind it.
    expect(fs.syncs).toBeGreaterThanOrEqual(1)
    expect(fs.syncs).toBeLessThanOrEqual(2)
    expect(fs.writes).toBe(fs.syncs)
    expect(storage.syncs).toBe(fs.syncs)
    const reopened = await openLedger(createFileLedgerStorage('/ledger', { fs }))
    expect(reopened.size).toBe(1000)
    expect(reopened.head).toBe(events[999]?.hash)
  })

  it('Ledger.flush() through file storage uses far fewer syncs than events', async () => {
    const fs = createMemoryFs()
    const ledger = await openLedger(createFileLedgerStorage('/l', { fs }))
    const acks: Array<Promise<void>> = []
    for (let i = 0; i < 500; i++) {
      ledger.append(draft(i))
      acks.push(ledger.flush())
    }
    await Promise.all(acks)
    expect(fs.syncs).toBeLessThanOrEqual(3)
    expect(ledger.durableSize).toBe(500)
  })

  it('append() resolves only after the data is synced', async () => {
    const fs = createMemoryFs()
    const storage = createFileLedgerStorage('/d', { fs })
    const events = [...ledgerOf(3).events()]
    let synced = -1
    const p = storage.append(events).then(() => { synced = fs.syncs })
    expect(synced).toBe(-1)
    await p
    expect(synced).toBe(1)
  })

  it('append() rejects with LEDGER_IO when a write fails, and every later append too', async () => {
    const fs = createMemoryFs()
    const storage = createFileLedgerStorage('/d', { fs })
    const events = [...ledgerOf(3).events()]
    await storage.append([events[0]!])
    fs.failNextWrite = true
    await expect(storage.append([events[1]!])).rejects.toMatchObject({ code: 'LEDGER_IO' })
    await expect(storage.append([events[2]!])).rejects.toMatchObject({ code: 'LEDGER_IO' })
  })

  it('append() rejects an event that does not continue the stored chain', async () => {
    const fs = createMemoryFs()
    const storage = createFileLedgerStorage('/d', { fs })
    const events = [...ledgerOf(3).events()]
    await expect(storage.append([events[1]!])).rejects.toMatchObject({ code: 'LEDGER_IO', details: { expectedSeq: 0 } })
  })

  it('load() cuts a torn tail, reports it in repaired, and loses nothing acknowledged', async () => {
    const dir = await tempDir()
    const ledger = await openLedger(createFileLedgerStorage(dir))
    for (let i = 0; i < 40; i++) ledger.append(draft(i))
    await ledger.flush()
    const acknowledgedHead = ledger.head
    await ledger.close()
    const before = (await stat(join(dir, SEG0))).size
    // A crash in the middle of writing event 40: half a record, no newline.
    const next = JSON.stringify(ledgerOf(41).get(40))
    await appendFile(join(dir, SEG0), next.slice(0, 57))
    const reopened = await openLedger(createFileLedgerStorage(dir))
    expect(reopened.repaired).toEqual({ segment: SEG0, droppedBytes: 57, atSeq: 40 })
    expect(reopened.size).toBe(40)
    expect(reopened.head).toBe(acknowledgedHead)
    expect((await stat(join(dir, SEG0))).size).toBe(before)
    // The chain continues cleanly after the cut.
    reopened.append(draft(40))
    await reopened.close()
    expect(await verifyLedgerDir(dir)).toMatchObject({ ok: true, size: 41, head: ledgerOf(41).head })
  })

  it('load() repairs a torn tail in the last of several segments', async () => {
    const dir = await writeLedger(12, { segmentMaxEvents: 5 })
    await appendFile(join(dir, 'segment-000002.jsonl'), '{"capability_id":nu')
    const ledger = await openLedger(createFileLedgerStorage(dir, { segmentMaxEvents: 5 }))
    expect(ledger.repaired).toMatchObject({ segment: 'segment-000002.jsonl', atSeq: 12, droppedBytes: 19 })
    expect(ledger.size).toBe(12)
    await ledger.close()
  })

  it('load() does not repair corruption before the tail: LEDGER_CORRUPT or LEDGER_CHAIN_BROKEN with firstBadSeq', async () => {
    const dir = await writeLedger(20)
    const path = join(dir, SEG0)
    const original = await readFile(path, 'utf8')
    const lines = original.split('\n')
    // A changed digit in event 7's tick.
    lines[7] = (lines[7] as string).replace('"tick":21', '"tick":22')
    await writeFile(path, lines.join('\n'))
    const broken = await openLedger(createFileLedgerStorage(dir)).catch((e: unknown) => e)
    expect(broken).toBeInstanceOf(KernelError)
    expect(broken).toMatchObject({ code: 'LEDGER_CHAIN_BROKEN', details: { firstBadSeq: 7, reason: 'hash_mismatch' } })
    // Garbage in the middle of event 3.
    await writeFile(path, original.slice(0, original.indexOf('\n', 10) + 30) + '\u0000' + original.slice(original.indexOf('\n', 10) + 31))
    const corrupt = await openLedger(createFileLedgerStorage(dir)).catch((e: unknown) => e)
    expect(corrupt).toMatchObject({ code: 'LEDGER_CORRUPT', details: { firstBadSeq: 1 } })
    // Nothing was cut.
    expect((await stat(path)).size).toBe(Buffer.byteLength(original))
  })

  it('load() refuses a partial record at the end of a segment that is not the last', async () => {
    const dir = await writeLedger(12, { segmentMaxEvents: 5 })
    const p = join(dir, 'segment-000000.jsonl')
    await truncate(p, (await stat(p)).size - 10)
    await expect(openLedger(createFileLedgerStorage(dir))).rejects.toMatchObject({ code: 'LEDGER_CORRUPT', details: { firstBadSeq: 4 } })
  })

  it('appendCheckpoint() persists checkpoints that reopen and verify', async () => {
    const dir = await tempDir()
    const key = keyPairFromSeed(new Uint8Array(32).fill(3))
    const ledger = await openLedger(createFileLedgerStorage(dir))
    for (let i = 0; i < 8; i++) ledger.append(draft(i))
    const cp1 = ledger.checkpoint(key, 10)
    ledger.append(draft(8))
    const cp2 = ledger.checkpoint(key, 11)
    await ledger.close()
    const reopened = await openLedger(createFileLedgerStorage(dir))
    expect(reopened.checkpoints()).toEqual([cp1, cp2])
    expect(await verifyLedgerDir(dir, { publicKey: key.publicKey })).toMatchObject({ ok: true, size: 9, checkpoints: 2 })
    await reopened.close()
  })
})
