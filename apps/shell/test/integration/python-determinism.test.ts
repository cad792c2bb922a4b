import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { events, head, inDir, lastToken, ofToken, pythonDir, unitsOf } from './python-helpers.ts'

const DETERMINISM = [
  'import random, time, uuid',
  "d = {'zeta': 1, 'alpha': 2, 'mid': 3}",
  "d['beta'] = 4",
  'print(random.random())',
  'print(time.time())',
  'print(uuid.uuid4())',
  'print(list(d), list({3, 1, 2}), hash("os2"))'
].join('\n') + '\n'

const LOOP = 'total = 0\nfor i in range(2000):\n    total += i * i\nprint(total)\n'
const COUNTER = 'i = 0\nwhile True:\n    i += 1\n    if i % 500 == 0:\n        print(i)\n'

describe('os2 python determinism and metering (real CLI, real Pyodide)', () => {
  let a: Awaited<ReturnType<typeof pythonDir>>
  let b: Awaited<ReturnType<typeof pythonDir>>

  beforeAll(async () => {
    [a, b] = await Promise.all([pythonDir(), pythonDir()])
  })
  afterAll(async () => {
    await Promise.all([a.cleanup(), b.cleanup()])
  })

  it('`os2 python` prints the same bytes and leaves the same ledger head in two fresh data dirs', async () => {
    const ra = await inDir(a.dir, ['python', await a.script('det.py', DETERMINISM)])
    const rb = await inDir(b.dir, ['python', await b.script('det.py', DETERMINISM)])
    expect(ra.code, ra.stderr).toBe(0)
    expect(rb.code, rb.stderr).toBe(0)
    expect(ra.stdout).toBe(rb.stdout)
    expect(ra.stdout.split('\n')).toHaveLength(5)
    expect(ra.stdout).toContain('1767225600.')
    expect(await head(a.dir)).toBe(await head(b.dir))
    const evs = await events(a.dir)
    const id = lastToken(evs)
    const out = ofToken(evs, id).filter(e => e.type === 'custom' && e.payload.name === 'python.stdout').map(e => (e.payload.data as { text: string }).text).join('')
    expect(out).toBe(ra.stdout)
    expect(ofToken(evs, id).some(e => e.type === 'completed')).toBe(true)
  })

  it('`os2 python` charges the same unit count in 3 runs of the same script', async () => {
    const path = await a.script('loop.py', LOOP)
    const units: number[] = []
    for (let i = 0; i < 3; i++) {
      const r = await inDir(a.dir, ['python', path])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe('2664667000\n')
      units.push(unitsOf(await events(a.dir), lastToken(await events(a.dir))))
    }
    expect(units[0]).toBeGreaterThan(2000)
    expect(new Set(units).size).toBe(1)
  })

  it('`os2 python --token-budget` stops an endless loop at the same point every time with resource_budget_exceeded', async () => {
    const outs: string[] = []
    for (const d of [a, b]) {
      const r = await inDir(d.dir, ['python', '--token-budget', '20000', await d.script('counter.py', COUNTER)])
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/error BUDGET_EXCEEDED/)
      outs.push(r.stdout)
      const evs = await events(d.dir)
      const mine = ofToken(evs, lastToken(evs))
      const exceeded = mine.find(e => e.type === 'resource_budget_exceeded')
      expect(exceeded?.payload.kind).toBe('tokens')
      expect(mine.some(e => e.type === 'failed')).toBe(true)
    }
    expect(outs[0]).toBe(outs[1])
    expect(outs[0]?.length).toBeGreaterThan(0)
  })
})
