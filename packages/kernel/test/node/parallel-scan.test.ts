import type { CanonicalValue } from '@os2/crypto'
import { describe, expect, it } from 'vitest'
import { openLedger } from '../../src/ledger/index.ts'
import { createFileLedgerStorage } from '../../node/index.ts'
import { PARALLEL_SCAN_MIN_BYTES, scanSegmentsParallel } from '../../node/parallel-scan.ts'
import { createMemoryFs } from '../ledger/fixtures.ts'
import type { MemoryFs } from '../ledger/fixtures.ts'

const DIR = '/ledger'
const SEG0 = `${DIR}/segment-000000.jsonl`
const TEXT = 'x'.repeat(600)

/** A ledger past the parallel threshold: ~2,000 events of ~750 bytes, in two segments. */
async function bigLedger (payload: (i: number) => Record<string, CanonicalValue> = i => ({ i, text: TEXT })): Promise<MemoryFs> {
  const fs = createMemoryFs()
  const ledger = await openLedger(createFileLedgerStorage(DIR, { fs, segmentMaxEvents: 1200 }))
  for (let i = 0; i < 2000; i++) ledger.append({ tick: i, type: 'custom', payload: payload(i) })
  await ledger.close()
  return fs
}

function edited (fs: MemoryFs, path: string, edit: (text: string) => string): MemoryFs {
  const copy = createMemoryFs()
  for (const [k, v] of fs.files) copy.files.set(k, k === path ? new TextEncoder().encode(edit(new TextDecoder().decode(v))) : v)
  return copy
}

async function openError (fs: MemoryFs): Promise<{ code?: string, details?: Record<string, unknown> }> {
  try {
    await openLedger(createFileLedgerStorage(DIR, { fs }))
  } catch (err) {
    return err as { code?: string, details?: Record<string, unknown> }
  }
  throw new Error('opened a tampered ledger')
}

describe('scanSegmentsParallel()', () => {
  it('hashes a big ledger on a worker and agrees with the exact scan', async () => {
    const fs = await bigLedger()
    let total = 0
    for (const bytes of fs.files.values()) total += bytes.length
    expect(total).toBeGreaterThan(PARALLEL_SCAN_MIN_BYTES)
    const scan = await scanSegmentsParallel(fs, DIR)
    expect(scan).toBeDefined()
    expect(scan?.events).toHaveLength(2000)
    await expect(scan?.hashes).resolves.toMatchObject({ ok: true, size: 2000, head: scan?.events[1999]?.hash })
    const ledger = await openLedger(createFileLedgerStorage(DIR, { fs }))
    expect(ledger.size).toBe(2000)
    expect(ledger.verify().ok).toBe(true)
  })

  it('leaves a small ledger to the one-thread scan', async () => {
    const fs = createMemoryFs()
    const ledger = await openLedger(createFileLedgerStorage(DIR, { fs }))
    for (let i = 0; i < 10; i++) ledger.append({ tick: i, type: 'custom', payload: { i } })
    await ledger.close()
    expect(await scanSegmentsParallel(fs, DIR)).toBeUndefined()
  })

  it('a changed payload byte is named by seq, as the exact scan names it', async () => {
    const fs = edited(await bigLedger(), SEG0, t => t.replace('{"i":777,', '{"i":778,'))
    expect(await openError(fs)).toMatchObject({ code: 'LEDGER_CHAIN_BROKEN', details: { firstBadSeq: 777, reason: 'hash_mismatch' } })
  })

  it('a non-canonical spelling is corrupt, even with the hash recomputed', async () => {
    // White space inside the payload: the worker questions it, the exact path calls it what it is.
    const fs = edited(await bigLedger(), SEG0, t => t.replace('{"i":5,', '{"i": 5,'))
    expect(await openError(fs)).toMatchObject({ details: { firstBadSeq: 5 } })
  })

  it('integer-like member names (reordered by JSON.parse) still verify, through the exact path', async () => {
    const fs = await bigLedger(i => ({ 10: i, 9: TEXT }))
    const scan = await scanSegmentsParallel(fs, DIR)
    await expect(scan?.hashes).resolves.toMatchObject({ ok: true, size: 2000 })
    expect((await openLedger(createFileLedgerStorage(DIR, { fs }))).size).toBe(2000)
  })

  it('a line moved out of order is refused on this thread', async () => {
    const fs = edited(await bigLedger(), SEG0, t => { const lines = t.split('\n'); [lines[3], lines[4]] = [lines[4] as string, lines[3] as string]; return lines.join('\n') })
    expect(await scanSegmentsParallel(fs, DIR)).toBeUndefined()
    expect(await openError(fs)).toMatchObject({ details: { firstBadSeq: 3 } })
  })
})

describe('createKernel() on a big stored ledger', () => {
  it('replays while the worker hashes, and reports a bad hash as the chain error, not as whatever replay made of it', async () => {
    const { createKernel, createGenesis } = await import('../../src/index.ts')
    const genesis = createGenesis({ seed: 'parallel' })
    const fs = createMemoryFs()
    const kernel = await createKernel({ storage: createFileLedgerStorage(DIR, { fs }) }, { genesis })
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'a', capability: 'kernel.emit' } })
    for (let i = 0; i < 600; i++) await kernel.handle({ type: 'SubmitToken', token: { id: `t${i}`, principal: 'a', capability: 'kernel.emit', args: { name: 'note', data: { i, text: TEXT } } } })
    await kernel.runUntilIdle()
    const head = kernel.ledger.head
    await kernel.close()

    const reopened = await createKernel({ storage: createFileLedgerStorage(DIR, { fs }) }, { genesis })
    expect(reopened.ledger.head).toBe(head)
    await reopened.close()

    const seq = [...new TextDecoder().decode(fs.files.get(SEG0)).split('\n')].findIndex(l => l.includes('"data":{"i":300,'))
    expect(seq).toBeGreaterThan(0)
    const tampered = edited(fs, SEG0, t => t.replace('"data":{"i":300,', '"data":{"i":301,'))
    await expect(createKernel({ storage: createFileLedgerStorage(DIR, { fs: tampered }) }, { genesis }))
      .rejects.toMatchObject({ code: 'LEDGER_CHAIN_BROKEN', details: { firstBadSeq: seq, reason: 'hash_mismatch' } })
  })
})
