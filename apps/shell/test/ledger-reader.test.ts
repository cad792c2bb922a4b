import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLedgerReader } from '../src/ledger-reader.ts'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'os2-reader-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

const line = (seq: number): string => JSON.stringify({ seq, type: 'x' }) + '\n'

describe('createLedgerReader()', () => {
  it('`read()` returns every event first, then only new ones, across segments', async () => {
    await writeFile(join(dir, 'segment-000000.jsonl'), line(0) + line(1))
    await writeFile(join(dir, 'checkpoints.jsonl'), '{"size":1}\n')
    const reader = createLedgerReader(dir)
    expect((await reader.read()).map(e => e.seq)).toEqual([0, 1])
    expect(await reader.read()).toEqual([])
    await appendFile(join(dir, 'segment-000000.jsonl'), line(2))
    await writeFile(join(dir, 'segment-000001.jsonl'), line(3))
    expect((await reader.read()).map(e => e.seq)).toEqual([2, 3])
    await appendFile(join(dir, 'segment-000001.jsonl'), line(4))
    expect((await reader.read()).map(e => e.seq)).toEqual([4])
  })

  it('`read()` holds back a partial last line until it is complete', async () => {
    const file = join(dir, 'segment-000000.jsonl')
    const full = line(1)
    await writeFile(file, line(0) + full.slice(0, 5))
    const reader = createLedgerReader(dir)
    expect((await reader.read()).map(e => e.seq)).toEqual([0])
    expect(await reader.read()).toEqual([])
    await appendFile(file, full.slice(5))
    expect((await reader.read()).map(e => e.seq)).toEqual([1])
  })

  it('`read()` skips unparsable lines and reads an empty dir as no events', async () => {
    expect(await createLedgerReader(join(dir, 'missing')).read()).toEqual([])
    const reader = createLedgerReader(dir)
    expect(await reader.read()).toEqual([])
    await writeFile(join(dir, 'segment-000000.jsonl'), line(0) + '{garbage\n' + line(2))
    expect((await reader.read()).map(e => e.seq)).toEqual([0, 2])
  })
})
