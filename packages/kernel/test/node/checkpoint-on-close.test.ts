import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { initDataDir, openDataDir, readDataDirPublicKey } from '../../node/data-dir.ts'
import { verifyLedgerDir } from '../../node/index.ts'

let base: string
beforeEach(async () => { base = await mkdtemp(join(tmpdir(), 'os2-checkpoint-')) })
afterEach(async () => { await rm(base, { recursive: true, force: true }) })

const grant = (n: number): unknown => ({ type: 'GrantCapability', grant: { principal: `agent-${n}`, capability: 'kernel.state.put', scope: { namespaces: ['notes'] } } })

async function segment (dir: string): Promise<string> {
  return join(dir, 'ledger', 'segment-000000.jsonl')
}

describe('Kernel.close()', () => {
  it('`close()` writes a signed checkpoint of the head, so a clean cut at a record boundary fails verification', async () => {
    const dir = join(base, 'node')
    await initDataDir(dir, { seed: 7 })
    const { kernel } = await openDataDir(dir)
    for (let i = 0; i < 5; i++) expect((await kernel.handle(grant(i))).disposition).toBe('accepted')
    const size = kernel.ledger.size
    const root = kernel.ledger.root()
    await kernel.close()

    const lines = (await readFile(join(dir, 'ledger', 'checkpoints.jsonl'), 'utf8')).trim().split('\n')
    const cp = JSON.parse(lines.at(-1) ?? '{}') as { size: number, root: string }
    expect(cp.size).toBe(size)
    expect(cp.root).toBe(root)
    const publicKey = await readDataDirPublicKey(dir)
    expect((await verifyLedgerDir(join(dir, 'ledger'), { publicKey })).ok).toBe(true)

    // Drop the last two whole records: every remaining line still chains, only the checkpoint knows.
    const file = await segment(dir)
    const records = (await readFile(file, 'utf8')).split('\n').filter(l => l.length > 0)
    await writeFile(file, records.slice(0, -2).join('\n') + '\n')
    const cut = await verifyLedgerDir(join(dir, 'ledger'), { publicKey })
    expect(cut.ok).toBe(false)
  })

  it('`close()` adds no second checkpoint when nothing was appended since the last one', async () => {
    const dir = join(base, 'idle')
    await initDataDir(dir, { seed: 7 })
    const first = await openDataDir(dir)
    await first.kernel.handle(grant(1))
    await first.kernel.close()
    const second = await openDataDir(dir)
    await second.kernel.close()
    const lines = (await readFile(join(dir, 'ledger', 'checkpoints.jsonl'), 'utf8')).trim().split('\n')
    expect(lines).toHaveLength(1)
  })
})
