import { cp, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { encodeEnvelope, envelopeHash } from '@os2/kernel'
import type { EventEnvelope } from '@os2/kernel'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EXAMPLES, json, ledgerBytes, os2, segmentFiles, tempDir } from './harness.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let pristine: string
let segmentName: string
let lines: string[]

beforeAll(async () => {
  tmp = await tempDir('os2-verify-')
  pristine = join(tmp.path, 'pristine')
  const r = await os2(['--data-dir', pristine, 'scenario-run', join(EXAMPLES, 'quickstart.json'), '--fresh'])
  expect(r.code, r.stderr).toBe(0)
  const segments = await segmentFiles(pristine)
  expect(segments.size).toBe(1)
  segmentName = [...segments.keys()][0]!
  lines = segments.get(segmentName)!.toString('utf8').split('\n').filter(l => l.length > 0)
  expect(lines.length).toBeGreaterThan(20)
}, 600_000)
afterAll(async () => { await tmp.cleanup() })

let copies = 0
/** A copy of the pristine data dir whose segment file gets `mutate`d. */
async function damaged (mutate: (bytes: Buffer) => Buffer | string): Promise<string> {
  const dir = join(tmp.path, `copy-${copies++}`)
  await cp(pristine, dir, { recursive: true })
  const file = join(dir, 'ledger', segmentName)
  await writeFile(file, mutate(await readFile(file)))
  return dir
}

/** Runs ledger-verify and checks it names `seq`, changes nothing, and says so in JSON too. */
async function expectBadAt (dir: string, seq: number): Promise<void> {
  const before = await ledgerBytes(dir)
  const r = await os2(['--data-dir', dir, 'ledger-verify'])
  expect(r.code, r.stdout + r.stderr).toBe(1)
  expect(r.stderr).toMatch(new RegExp(`^error LEDGER_(CHAIN_BROKEN|CORRUPT): First bad sequence number ${seq}:`, 'm'))
  expect(r.stdout).toContain(`first bad sequence number ${seq}`)
  const j = await os2(['--data-dir', dir, '--json', 'ledger-verify'])
  expect(j.code).toBe(1)
  expect(json(j)).toMatchObject({ ok: false, firstBadSeq: seq })
  // Verification never repairs: the damaged bytes are still there.
  expect((await ledgerBytes(dir)).equals(before)).toBe(true)
}

/** Byte offset of the start of line `seq`. */
function lineStart (seq: number): number {
  return lines.slice(0, seq).reduce((n, l) => n + Buffer.byteLength(l) + 1, 0)
}

describe('os2 ledger-verify', { timeout: 600_000 }, () => {
  it('`os2 ledger-verify` exits 0 on an untouched ledger', async () => {
    const r = await os2(['--data-dir', pristine, 'ledger-verify'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(new RegExp(`^ledger ok: ${lines.length} events, head [0-9a-f]{64}`, 'm'))
    expect(json(await os2(['--data-dir', pristine, '--json', 'ledger-verify']))).toMatchObject({ ok: true, size: lines.length })
  })

  it('`os2 ledger-verify` names the first bad seq after a single changed byte, wherever it is', async () => {
    const n = lines.length
    // Positions: a payload digit, a hash character, the seq field, a structural character, the last event.
    const cases: Array<{ seq: number, offset: (line: string) => number }> = [
      { seq: 0, offset: l => l.indexOf('"tick":') + 7 },
      { seq: 4, offset: l => l.indexOf('"hash":"') + 20 },
      { seq: 9, offset: l => l.indexOf('"payload":') + 3 },
      { seq: Math.floor(n / 2), offset: l => l.indexOf('"prev_hash":"') + 13 },
      { seq: n - 2, offset: l => l.length - 1 },
      { seq: n - 1, offset: l => l.indexOf('"seq":') + 6 }
    ]
    for (const c of cases) {
      const at = lineStart(c.seq) + c.offset(lines[c.seq]!)
      const dir = await damaged(bytes => {
        const copy = Buffer.from(bytes)
        const old = copy[at]!
        // Flip to a different printable character of the same class, so it is a single changed byte.
        copy[at] = old >= 0x30 && old <= 0x39 ? (old === 0x39 ? 0x30 : old + 1) : old >= 0x61 && old <= 0x66 ? (old === 0x66 ? 0x61 : old + 1) : old === 0x7d ? 0x5d : old + 1
        expect(copy.equals(bytes)).toBe(false)
        return copy
      })
      await expectBadAt(dir, c.seq)
    }
  })

  it('`os2 ledger-verify` names the first bad seq after an event line is deleted', async () => {
    await expectBadAt(await damaged(() => lines.filter((_, i) => i !== 7).join('\n') + '\n'), 7)
  })

  it('`os2 ledger-verify` names the first bad seq after an event line is duplicated', async () => {
    await expectBadAt(await damaged(() => [...lines.slice(0, 6), lines[5]!, ...lines.slice(6)].join('\n') + '\n'), 6)
  })

  it('`os2 ledger-verify` names the first bad seq after two event lines are swapped', async () => {
    await expectBadAt(await damaged(() => [...lines.slice(0, 11), lines[12]!, lines[11]!, ...lines.slice(13)].join('\n') + '\n'), 11)
  })

  it('`os2 ledger-verify` names the first bad seq after the file is cut in the middle', async () => {
    const seq = Math.floor(lines.length / 2)
    const dir = await damaged(bytes => bytes)
    await truncate(join(dir, 'ledger', segmentName), lineStart(seq) + Math.floor(lines[seq]!.length / 2))
    await expectBadAt(dir, seq)
  })

  it('`os2 ledger-verify` names the first bad seq after the file is cut at a line boundary and a later line kept', async () => {
    // Lines 0..9, then line 14: a gap, not just a shorter ledger.
    await expectBadAt(await damaged(() => [...lines.slice(0, 10), lines[14]!].join('\n') + '\n'), 10)
  })

  it('`os2 ledger-verify --replay` passes an untouched ledger and names the first forged event of a consistently re-chained one', async () => {
    const ok = await os2(['--data-dir', pristine, 'ledger-verify', '--replay'])
    expect(ok.code, ok.stderr).toBe(0)
    expect(ok.stdout).toMatch(/replay ok: \d+ events re-executed from genesis, every hash matches/)
    // A forger rewrites one consequence (a completed token's result) and recomputes
    // every hash after it, so the chain alone still verifies.
    const events = lines.map(l => JSON.parse(l) as EventEnvelope)
    const target = events.findIndex(e => e.type === 'completed')
    expect(target).toBeGreaterThan(0)
    events[target] = { ...events[target]!, payload: { ...events[target]!.payload, result: { ok: false } } }
    for (let i = target; i < events.length; i++) {
      const prev = events[i - 1]!
      const e = { ...events[i]!, prev_hash: prev.hash }
      events[i] = { ...e, hash: envelopeHash(e) }
    }
    const dir = await damaged(() => events.map(e => encodeEnvelope(e)).join('\n') + '\n')
    // The node's signed checkpoint still holds the real root, so the chain check alone catches it…
    const signed = await os2(['--data-dir', dir, 'ledger-verify'])
    expect(signed.code, signed.stdout + signed.stderr).toBe(1)
    // …and a forger who also deletes the checkpoints gets a chain that verifies, which only replay exposes.
    await rm(join(dir, 'ledger', 'checkpoints.jsonl'), { force: true })
    expect((await os2(['--data-dir', dir, 'ledger-verify'])).code).toBe(0)
    const r = await os2(['--data-dir', dir, 'ledger-verify', '--replay'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(new RegExp(`^error REPLAY_DIVERGED: First bad sequence number ${target}:`, 'm'))
    const j = await os2(['--data-dir', dir, '--json', 'ledger-verify', '--replay'])
    expect(json(j)).toMatchObject({ ok: true, replay: { ok: false, firstDivergentSeq: target } })
  })
})
