import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandboxPool } from '../../src/index.ts'
import type { RunResult, SandboxPool } from '../../src/index.ts'
import { baseInit, fakeKernel, runOnce } from './helpers.ts'

const CPU = `
def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)
total = 0
for i in range(2000):
    total += i * i
print(fib(15), total, sorted({str(i): i for i in range(50)})[:3])
`

let pool: SandboxPool

beforeAll(async () => {
  pool = createSandboxPool({ size: 2 })
  await pool.ready()
})

afterAll(async () => { await pool.close() })

async function fresh (code: string, unitBudget = baseInit.unitBudget): Promise<RunResult> {
  const sandbox = await pool.acquire({ syscalls: fakeKernel().handler }, { ...baseInit, unitBudget })
  try {
    return await sandbox.run(code)
  } finally {
    await sandbox.close()
  }
}

describe('metering', () => {
  it('run() reports the same unit count for the same script in 3 fresh sessions', async () => {
    const runs = [await fresh(CPU), await fresh(CPU), await fresh(CPU)]
    expect(runs[0]?.status).toBe('ok')
    expect(runs[0]?.units).toBeGreaterThan(2000)
    expect(new Set(runs.map((r) => r.units)).size).toBe(1)
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1)
  })

  it('run() stops at the same unit and the same output every time the budget runs out', async () => {
    const code = 'i = 0\nwhile True:\n    i += 1\n    if i % 1000 == 0:\n        print(i)'
    const runs = [await fresh(code, 12_345), await fresh(code, 12_345), await fresh(code, 12_345)]
    for (const r of runs) {
      expect(r.status).toBe('budget_exceeded')
      expect(r.units).toBe(12_345)
    }
    expect(runs[0]?.stdout).not.toBe('')
    expect(new Set(runs.map((r) => r.stdout)).size).toBe(1)
  })

  it('run() counts the same units in a pooled and a freshly spawned session', async () => {
    const pooled = await fresh(CPU)
    const spawned = await runOnce(CPU)
    expect(spawned.status).toBe('ok')
    expect(spawned.units).toBe(pooled.units)
    expect(spawned.stdout).toBe(pooled.stdout)
  })

  it('run() counts more units for more work', async () => {
    const small = await fresh('for i in range(100):\n    pass')
    const large = await fresh('for i in range(10000):\n    pass')
    expect(large.units - small.units).toBe(9900)
  })

  it('run() keeps Python semantics under the metering compiler (the output CPython prints)', async () => {
    const script = readFileSync(new URL('./fixtures/semantics.py', import.meta.url), 'utf8')
    const r = await fresh(script)
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe("[42, 8, 42, 7, 2, ('doc', [0, 1, 4, 9, 0, 1]), ([0, 1, 2], 'gen doc'), 6, (3, 3, None), [0, 0, -1, 2, -2, -3, 'wend'], \"[0, 1, 2] 6 {'a': 'a', 'b': 'b'} ((1,), {'z': 2})\", {'a': 0, 'b': 1}, [0, 1, 2], 4, (P(x=1, y=[]), 'RED', [('a', 2)], 10), 2, 3, (6, 'kw doc', None, {'c': 3}), 'function', ('syntax', 1), 108]\n")
  })

  it('acquire() hands out each pooled process once', async () => {
    const a = await pool.acquire({ syscalls: fakeKernel().handler }, baseInit)
    const b = await pool.acquire({ syscalls: fakeKernel().handler }, baseInit)
    expect(a.pid).not.toBe(b.pid)
    await a.run('x = 1')
    const leak = await b.run('print("x" in globals())')
    expect(leak.stdout).toBe('False\n')
    await a.close()
    await b.close()
    expect(pool.stats().handedOut).toBeGreaterThanOrEqual(2)
  })
})
