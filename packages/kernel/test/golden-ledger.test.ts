import { cp, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { createKernel, parseGenesis, replayLedger } from '../src/index.ts'
import { createFileLedgerStorage, verifyLedgerDir } from '../node/index.ts'
import { writeGoldenLedger } from './fixtures/golden/golden-workload.ts'
import type { GoldenExpectation } from './fixtures/golden/golden-workload.ts'

// Ledgers written by the kernel before the replay optimisations (fixtures/golden/):
// `mixed` by golden-workload.ts, `quickstart` by `os2 scenario-run examples/quickstart.json --fresh`.
// Every later kernel must open, verify and replay them to the same head, and write the same bytes.
const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'golden')
const SEGMENT = join('ledger', 'segment-000000.jsonl')

const dirs: string[] = []
async function copyFixture (name: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `os2-golden-${name}-`))
  dirs.push(dir)
  await cp(join(GOLDEN, name), dir, { recursive: true })
  return dir
}
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

async function expectation (dir: string): Promise<GoldenExpectation> {
  return JSON.parse(await readFile(join(dir, 'expected.json'), 'utf8')) as GoldenExpectation
}

describe.each(['mixed', 'quickstart'])('golden ledger %s', name => {
  it('`verifyLedgerDir()` passes with the recorded size and head', async () => {
    const dir = await copyFixture(name)
    const expected = await expectation(dir)
    const result = await verifyLedgerDir(join(dir, 'ledger'))
    expect(result.ok).toBe(true)
    expect(result.size).toBe(expected.size)
    if (result.ok) expect(result.head).toBe(expected.head)
  })

  it('`createKernel()` opens it by replaying from genesis to the recorded head, root and state hash, and writes nothing', async () => {
    const dir = await copyFixture(name)
    const expected = await expectation(dir)
    const before = await readFile(join(dir, SEGMENT))
    const genesis = parseGenesis(JSON.parse(await readFile(join(dir, 'genesis.json'), 'utf8')))
    const kernel = await createKernel({ storage: createFileLedgerStorage(join(dir, 'ledger')) }, { genesis })
    expect(kernel.ledger.size).toBe(expected.size)
    expect(kernel.ledger.head).toBe(expected.head)
    expect(kernel.ledger.root()).toBe(expected.root)
    expect(kernel.stateHash()).toBe(expected.stateHash)
    await kernel.close()
    expect((await readFile(join(dir, SEGMENT))).equals(before)).toBe(true)
  })

  it('`replayLedger()` reproduces every recorded hash', async () => {
    const dir = await copyFixture(name)
    const expected = await expectation(dir)
    const genesis = parseGenesis(JSON.parse(await readFile(join(dir, 'genesis.json'), 'utf8')))
    const events = (await readFile(join(dir, SEGMENT), 'utf8')).trim().split('\n').map(line => JSON.parse(line) as never)
    const report = await replayLedger(events, { genesis })
    expect(report).toMatchObject({ ok: true, eventsReplayed: expected.size - 1, head: expected.head })
  })
})

describe('golden ledger writer', () => {
  it('`writeGoldenLedger()` makes byte-identical ledger and genesis files with the current kernel', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'os2-golden-fresh-'))
    dirs.push(dir)
    const made = await writeGoldenLedger(dir)
    expect(made).toEqual(await expectation(join(GOLDEN, 'mixed')))
    expect((await readFile(join(dir, SEGMENT))).equals(await readFile(join(GOLDEN, 'mixed', SEGMENT)))).toBe(true)
    expect(await readFile(join(dir, 'genesis.json'), 'utf8')).toBe(await readFile(join(GOLDEN, 'mixed', 'genesis.json'), 'utf8'))
  }, 60_000)
})
