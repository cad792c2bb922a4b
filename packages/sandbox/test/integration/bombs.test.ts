import { describe, expect, it } from 'vitest'
import { MiB, openSandbox, runOnce } from './helpers.ts'

/** After each bomb: a fresh session on the same host still serves. */
async function hostStillServes (): Promise<void> {
  const r = await runOnce('print("alive")')
  expect(r.status).toBe('ok')
  expect(r.stdout).toBe('alive\n')
}

describe('resource bombs', () => {
  it('run() stops `while True: pass` at the unit budget', async () => {
    const r = await runOnce('while True:\n    pass', { unitBudget: 200_000 })
    expect(r.status).toBe('budget_exceeded')
    expect(r.error?.code).toBe('BUDGET_EXCEEDED')
    expect(r.units).toBe(200_000)
  })

  it('run() stops a loop that catches KeyboardInterrupt and BaseException', async () => {
    const code = [
      'n = 0',
      'while True:',
      '    try:',
      '        while True:',
      '            n += 1',
      '    except KeyboardInterrupt:',
      '        pass',
      '    except BaseException as e:',
      '        print("caught", type(e).__name__)',
      '        continue'
    ].join('\n')
    const r = await runOnce(code, { unitBudget: 100_000 })
    expect(r.status).toBe('budget_exceeded')
    expect(r.units).toBe(100_000)
  })

  it('run() is killed when a script swallows the stop without metered events', async () => {
    // A C-level loop produces no metered events: only the wall clock stops it.
    const sandbox = await openSandbox({ wallClockMs: 1500 })
    const r = await sandbox.run('sum(range(10**13))')
    expect(r.status).toBe('killed')
    expect(r.error?.code).toBe('WALL_CLOCK_EXCEEDED')
    expect(sandbox.alive).toBe(false)
    await expect(sandbox.run('print(1)')).rejects.toMatchObject({ code: 'SANDBOX_CLOSED' })
    await sandbox.close()
    await hostStillServes()
  })

  it('run() kills the session past the memory limit', async () => {
    const r = await runOnce('x = []\nwhile True:\n    x.append(b"x" * (16 * 2**20))', { memoryLimitBytes: 512 * MiB, unitBudget: 10_000_000 })
    expect(r.status).toBe('killed')
    expect(r.error?.code).toBe('MEMORY_LIMIT_EXCEEDED')
    await hostStillServes()
  })

  it('run() cuts an output flood at the output limit', async () => {
    const chunks: string[] = []
    const sandbox = await openSandbox({ outputLimitBytes: 64 * 1024 })
    const r = await sandbox.run('while True:\n    print("x" * 1000)', { onOutput: (_s, c) => { chunks.push(c) } })
    expect(r.status).toBe('budget_exceeded')
    expect(r.error?.code).toBe('OUTPUT_LIMIT_EXCEEDED')
    expect(r.outputTruncated).toBe(true)
    expect(r.stdout.length).toBe(64 * 1024)
    expect(chunks.join('')).toBe(r.stdout)
    const after = await sandbox.run('print("next")')
    expect(after.status).toBe('ok')
    expect(after.stdout).toBe('next\n')
    await sandbox.close()
  })

  it('run() stops a flood that bypasses sys.stdout once the grace period ends', async () => {
    const r = await runOnce('import os\nwhile True:\n    os.write(1, b"y" * 4096)', { outputLimitBytes: 32 * 1024, stopGraceMs: 300 })
    expect(r.status).toBe('budget_exceeded')
    expect(r.error?.code).toBe('OUTPUT_LIMIT_EXCEEDED')
    expect(r.outputTruncated).toBe(true)
    expect(r.stdout.length).toBe(32 * 1024)
  })

  it('run() turns deep recursion into a RecursionError and the session keeps serving', async () => {
    const sandbox = await openSandbox()
    const r = await sandbox.run('def f(n):\n    return f(n + 1)\nf(0)')
    expect(r.status).toBe('error')
    expect(r.error?.pythonType).toBe('RecursionError')
    const after = await sandbox.run('print("ok")')
    expect(after.stdout).toBe('ok\n')
    await sandbox.close()
  })

  it('run() contains recursion with a raised recursion limit', async () => {
    const r = await runOnce('import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)')
    expect(r.status).toBe('error')
    expect(r.error?.pythonType).toBe('RecursionError')
    await hostStillServes()
  })
})
