import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createSandboxPool } from '../../src/index.ts'
import type { RunResult, SandboxPool } from '../../src/index.ts'
import { baseInit, fakeKernel } from './helpers.ts'

// Each attack tries to run `while True: pass` (or a deep loop) without
// paying for it. A refused attempt leaves a `metering_tamper` violation; an
// attempt that is not refused must still stop at exactly the budget.

const BUDGET = 50_000
let pool: SandboxPool

beforeAll(async () => {
  pool = createSandboxPool({ size: 2 })
  await pool.ready()
})

afterAll(async () => { await pool.close() })

async function fresh (code: string): Promise<RunResult> {
  const sandbox = await pool.acquire({ syscalls: fakeKernel().handler }, { ...baseInit, unitBudget: BUDGET, wallClockMs: 15_000 })
  try {
    return await sandbox.run(code)
  } finally {
    await sandbox.close()
  }
}

function expectTamperRefused (r: RunResult): void {
  expect(r.status).toBe('violation')
  expect(r.violations.map((v) => v.kind)).toContain('metering_tamper')
  expect(r.error?.message).toMatch(/denied by the OS2 sandbox/)
  expect(r.units).toBeLessThan(BUDGET)
}

function expectStoppedAtBudget (r: RunResult): void {
  expect(r.status).toBe('budget_exceeded')
  expect(r.error?.code).toBe('BUDGET_EXCEEDED')
  expect(r.units).toBe(BUDGET)
}

const FREE_VARS = 'import builtins\ncells = dict(zip(builtins.compile.__code__.co_freevars, builtins.compile.__closure__))\n'

describe('metering tamper suite', () => {
  it('run() refuses the unmetered compile() reached through the metered one\'s closure', async () => {
    expectTamperRefused(await fresh(FREE_VARS + 'real = cells["real_compile"].cell_contents\nexec(real("while True: pass", "x", "exec"))'))
  })

  it('run() refuses code.replace() that would strip the ticks from a code object', async () => {
    expectTamperRefused(await fresh('def f():\n    while True: pass\nf.__code__ = f.__code__.replace(co_consts=(None,))\nf()'))
  })

  it('run() refuses marshal.loads (code from bytes)', async () => {
    expectTamperRefused(await fresh('import marshal\nmarshal.loads(b"\\xe3")'))
  })

  it('run() loads frozen stdlib modules but refuses foreign bytes passed as a frozen module\'s code', async () => {
    const ok = await fresh('import runpy\nprint(runpy.__name__)')
    expect(ok.status).toBe('ok')
    expect(ok.stdout).toBe('runpy\n')
    const forged = await fresh('import _imp, marshal\n_imp.get_frozen_object("runpy", b"\\xe3" + bytes(64))')
    expect(forged.status).toBe('violation')
    expect(forged.violations.map((v) => v.kind)).toContain('metering_tamper')
  })

  it('run() refuses a second instrumenter built with a free counter from the harness globals', async () => {
    expectTamperRefused(await fresh(FREE_VARS + [
      'import itertools',
      'make = builtins.compile.__globals__["make_instrumenter"]',
      'mine = make(itertools.repeat(True), cells["real_compile"].cell_contents, exec, eval, None)[0]',
      'exec(mine("while True: pass", "x", "exec"))'
    ].join('\n')))
  })

  it('run() refuses the metered compile\'s code object run with a forged closure', async () => {
    expectTamperRefused(await fresh(FREE_VARS + [
      'import types',
      'forged = tuple(types.CellType((lambda t: t) if n == "transform" else cells[n].cell_contents) for n in builtins.compile.__code__.co_freevars)',
      'f = types.FunctionType(builtins.compile.__code__, {}, "c", builtins.compile.__defaults__, forged)',
      'f.__kwdefaults__ = builtins.compile.__kwdefaults__',
      'exec(f("while True: pass", "x", "exec"))'
    ].join('\n')))
  })

  it('run() detects a rewired closure cell of the metered compiler', async () => {
    expectTamperRefused(await fresh(FREE_VARS + [
      'transform = cells["transform"].cell_contents',
      'for c in transform.__closure__:',
      '    if type(c.cell_contents) is tuple:',
      '        c.cell_contents = ()',
      'exec("while True: pass")'
    ].join('\n')))
  })

  it('run() refuses swapping the code of the metering compiler\'s helpers', async () => {
    expectTamperRefused(await fresh(FREE_VARS + [
      'transform = cells["transform"].cell_contents',
      'transform.__code__ = (lambda tree: tree).__code__',
      'exec("while True: pass")'
    ].join('\n')))
  })

  it('run() still stops at the budget when the script rebinds next, edits ast node types or drains the counter it can see', async () => {
    expectStoppedAtBudget(await fresh('import builtins\nbuiltins.next = lambda *a: True\nwhile True:\n    pass'))
    expectStoppedAtBudget(await fresh('import ast\nfor t in (ast.FunctionDef, ast.For, ast.While, ast.Module):\n    t._fields = ()\nexec("def f():\\n    while True: pass\\nf()")'))
    // The counter sits in every code object's constants: calling it only spends budget.
    expectStoppedAtBudget(await fresh('tick = [c for c in (lambda: 0).__code__.co_consts if type(c).__name__ == "chain"][0]\nwhile True:\n    next(tick)'))
    // Names the script might guess do not exist.
    const r = await fresh('print(sorted(k for k in globals() if "os2" in k or "tick" in k))')
    expect(r.stdout).toBe('[]\n')
  })

  it('run() keeps metering after recursion errors at every depth alignment of the counter\'s refills', async () => {
    // Each round costs the same X ticks (the recursion to the limit plus
    // `pad`); with X odd (one of the two pads), 1,030 rounds put a refill
    // of the counter (every 1,024 ticks) on the deepest frame, where the
    // refill's own call would hit the recursion limit. The meter must
    // survive it and still stop the final loop at the budget.
    const sandbox = await pool.acquire({ syscalls: fakeKernel().handler }, { ...baseInit, unitBudget: 5_000_000, wallClockMs: 60_000 })
    try {
      const r = await sandbox.run([
        'def down():',
        '    down()',
        'for pad in (0, 1):',
        '    for i in range(1030):',
        '        for _ in range(pad):',
        '            pass',
        '        try:',
        '            down()',
        '        except RecursionError:',
        '            pass',
        'while True:',
        '    pass'
      ].join('\n'))
      expect(r.error?.code).toBe('BUDGET_EXCEEDED')
      expect(r.units).toBe(5_000_000)
    } finally {
      await sandbox.close()
    }
  })

  it('run() charges a script\'s __str__ called while the error is reported, and caps work between runs', async () => {
    const sandbox = await pool.acquire({ syscalls: fakeKernel().handler }, { ...baseInit, unitBudget: BUDGET, wallClockMs: 15_000 })
    try {
      const r = await sandbox.run('class E(Exception):\n    def __str__(self):\n        while True:\n            pass\nraise E()')
      expectStoppedAtBudget(r)
      // An object freed after the run (held only by the error's traceback)
      // runs its __del__ between runs: at most 100,000 units, then it is stopped.
      const between = await sandbox.run([
        'class D:',
        '    def __del__(self):',
        '        n = 0',
        '        while True:',
        '            n += 1',
        'def f():',
        '    d = D()',
        '    raise ValueError("x")',
        'f()'
      ].join('\n'))
      expect(between.status).toBe('error')
      const after = await sandbox.run('print("still serving")')
      expect(after.status).toBe('ok')
      expect(after.stdout).toBe('still serving\n')
    } finally {
      await sandbox.close()
    }
  })

  it('run() meters code from exec, eval, lambdas, comprehensions and generator expressions', async () => {
    for (const code of [
      'exec("while True: pass")',
      'eval("[0 for _ in iter(int, 1)]")',
      'import itertools\nsum(1 for _ in itertools.count())',
      'import itertools\nf = lambda: f()\nfor _ in itertools.count():\n    try:\n        f()\n    except RecursionError:\n        pass',
      'import itertools\nany(map(lambda x: x < 0, itertools.count()))'
    ]) expectStoppedAtBudget(await fresh(code))
  })
})
