import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXAMPLES, json, os2, segmentFiles, tempDir } from './harness.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
beforeAll(async () => { tmp = await tempDir('os2-determinism-') })
afterAll(async () => { await tmp.cleanup() })

interface ScenarioDoc { ok: boolean, alreadyApplied: boolean, ledger: { size: number, head: string, root: string }, steps: Array<{ ok: boolean }> }

describe('os2 scenario-run determinism', { timeout: 600_000 }, () => {
  it('`os2 scenario-run` gives byte-identical ledgers and equal heads in two fresh data dirs from the same scenario and seed', async () => {
    const a = join(tmp.path, 'a')
    const b = join(tmp.path, 'b')
    const ra = await os2(['--data-dir', a, '--json', 'scenario-run', join(EXAMPLES, 'quickstart.json'), '--fresh'])
    const rb = await os2(['--data-dir', b, '--json', 'scenario-run', join(EXAMPLES, 'quickstart.json'), '--fresh'])
    expect(ra.code, ra.stderr).toBe(0)
    expect(rb.code, rb.stderr).toBe(0)
    const da = json<ScenarioDoc>(ra)
    const db = json<ScenarioDoc>(rb)
    expect(da.ok).toBe(true)
    expect(da.ledger.head).toMatch(/^[0-9a-f]{64}$/)
    expect(db.ledger).toEqual(da.ledger)
    const fa = await segmentFiles(a)
    const fb = await segmentFiles(b)
    expect([...fa.keys()]).toEqual([...fb.keys()])
    expect(fa.size).toBeGreaterThan(0)
    for (const [name, bytes] of fa) expect(bytes.equals(fb.get(name)!), name).toBe(true)
    // The node keys differ, the ledgers do not.
    expect((await readFile(join(a, 'node.pub'), 'utf8'))).not.toBe(await readFile(join(b, 'node.pub'), 'utf8'))
    // The human output prints the same head.
    const human = await os2(['--data-dir', a, 'ledger-inspect', '--from', String(da.ledger.size)])
    expect(human.stdout).toContain(`head ${da.ledger.head}`)
  })

  it('`os2 scenario-run` gives a different head when the seed differs', async () => {
    const scenario = JSON.parse(await readFile(join(EXAMPLES, 'quickstart.json'), 'utf8')) as Record<string, unknown>
    const file = join(tmp.path, 'other-seed.json')
    await writeFile(file, JSON.stringify({ ...scenario, seed: 'another seed' }))
    const r1 = await os2(['--data-dir', join(tmp.path, 'c'), '--json', 'scenario-run', join(EXAMPLES, 'quickstart.json'), '--fresh'])
    const r2 = await os2(['--data-dir', join(tmp.path, 'd'), '--json', 'scenario-run', file, '--fresh'])
    expect(r1.code, r1.stderr).toBe(0)
    expect(r2.code, r2.stderr).toBe(0)
    expect(json<ScenarioDoc>(r2).ledger.size).toBe(json<ScenarioDoc>(r1).ledger.size)
    expect(json<ScenarioDoc>(r2).ledger.head).not.toBe(json<ScenarioDoc>(r1).ledger.head)
  })

  it('`os2 scenario-run --fresh` on a data dir that already holds the scenario is a no-op with the same head', async () => {
    const dir = join(tmp.path, 'again')
    const first = json<ScenarioDoc>(await os2(['--data-dir', dir, '--json', 'scenario-run', join(EXAMPLES, 'budgets-and-scheduling.json'), '--fresh']))
    const before = await segmentFiles(dir)
    const again = await os2(['--data-dir', dir, '--json', 'scenario-run', join(EXAMPLES, 'budgets-and-scheduling.json'), '--fresh'])
    expect(again.code, again.stderr).toBe(0)
    expect(json<ScenarioDoc>(again)).toMatchObject({ alreadyApplied: true, ledger: first.ledger })
    expect(await segmentFiles(dir)).toEqual(before)
    // Another scenario is not layered onto it under --fresh.
    const other = await os2(['--data-dir', dir, 'scenario-run', join(EXAMPLES, 'quickstart.json'), '--fresh'])
    expect(other.code).toBe(1)
    expect(other.stderr).toMatch(/^error SCENARIO_SEED_MISMATCH: /m)
  })

  it('`os2 scenario-run` exits 1 naming the failing step when an expectation does not hold', async () => {
    const file = join(tmp.path, 'wrong.json')
    await writeFile(file, JSON.stringify({
      seed: 1,
      steps: [
        { request: { type: 'GrantCapability', grant: { principal: 'a', capability: 'kernel.emit' } }, expect: { disposition: 'accepted' } },
        { name: 'wrong guess', request: { type: 'SubmitToken', token: { id: 't', capability: 'kernel.emit', principal: 'a', args: { name: 'x' } } }, expect: { tokenState: 'failed' } }
      ]
    }))
    const r = await os2(['--data-dir', join(tmp.path, 'wrong'), 'scenario-run', file, '--fresh'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/^error SCENARIO_EXPECTATION_FAILED: Step 2 \(wrong guess\): expected token state failed, got completed/m)
    expect(r.stdout).toMatch(/ledger head [0-9a-f]{64}/)
  })

  it('every example scenario runs clean from a fresh data dir', async () => {
    for (const name of ['quickstart.json', 'budgets-and-scheduling.json', 'rejections.json']) {
      const r = await os2(['--data-dir', join(tmp.path, `ex-${name}`), 'scenario-run', join(EXAMPLES, name), '--fresh'])
      expect(r.code, `${name}: ${r.stderr}`).toBe(0)
    }
  })
})
