import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { events, inDir, lastToken, ofToken, pythonDir } from './python-helpers.ts'

describe('os2 python: resource bombs are contained and the kernel keeps serving', () => {
  let d: Awaited<ReturnType<typeof pythonDir>>
  beforeAll(async () => { d = await pythonDir() })
  afterAll(async () => { await d.cleanup() })

  async function outcome (): Promise<{ types: string[], exceeded: Record<string, unknown> | undefined }> {
    const evs = await events(d.dir)
    const mine = ofToken(evs, lastToken(evs))
    return { types: mine.map(e => e.type), exceeded: mine.find(e => e.type === 'resource_budget_exceeded')?.payload }
  }

  it('`os2 python` stops an infinite loop that catches KeyboardInterrupt at its token budget', async () => {
    const code = 'while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n'
    const r = await inDir(d.dir, ['python', '--token-budget', '300000', await d.script('spin.py', code)])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error BUDGET_EXCEEDED: /)
    expect((await outcome()).exceeded?.kind).toBe('tokens')
  })

  it('`os2 python` kills a C-level loop at the wall-clock limit and records it', async () => {
    const r = await inDir(d.dir, ['python', '--wall-ms', '1500', await d.script('c-loop.py', 'sum(range(10**13))\n')])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error BUDGET_EXCEEDED: .*Wall-clock limit of 1500 ms/)
    expect((await outcome()).exceeded?.kind).toBe('wallClockMs')
  })

  it('`os2 python` kills a memory bomb past the memory limit', async () => {
    const code = 'x = []\nwhile True:\n    x.append(b"x" * (16 * 2**20))\n'
    const r = await inDir(d.dir, ['python', '--memory-limit-mb', '512', await d.script('mem.py', code)])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error BUDGET_EXCEEDED: .*Memory limit/)
    expect((await outcome()).exceeded?.kind).toBe('memory')
  })

  it('`os2 python` cuts an output flood at the output limit', async () => {
    const r = await inDir(d.dir, ['python', await d.script('flood.py', "while True:\n    print('x' * 1000)\n")])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error OUTPUT_LIMIT_EXCEEDED: /)
    expect(r.stdout.length).toBeLessThanOrEqual(1 << 20)
    expect(r.stdout.length).toBeGreaterThan(500_000)
    const { types } = await outcome()
    expect(types).toContain('failed')
  })

  it('`os2 python` turns deep recursion into a RecursionError', async () => {
    const r = await inDir(d.dir, ['python', await d.script('rec.py', 'import sys\nsys.setrecursionlimit(10**6)\ndef f(n):\n    return f(n + 1)\nf(0)\n')])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/RecursionError/)
  })

  it('`os2 pyx` and `ledger-verify` work after the bombs', async () => {
    const r = await inDir(d.dir, ['pyx', 'sum(range(10))'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe('45\n')
    const v = await inDir(d.dir, ['ledger-verify'])
    expect(v.code, v.stderr).toBe(0)
  })
})

describe('os2 python: bad input gives clear errors', () => {
  let d: Awaited<ReturnType<typeof pythonDir>>
  beforeAll(async () => { d = await pythonDir() })
  afterAll(async () => { await d.cleanup() })

  it('`os2 python` reports a syntax error with its line', async () => {
    const r = await inDir(d.dir, ['python', await d.script('bad.py', 'print("ok")\nx = (\n')])
    expect(r.code).toBe(1)
    expect(r.stdout).toBe('')
    expect(r.stderr).toMatch(/error PYTHON_SYNTAX_ERROR: SyntaxError: .*line 2/)
  })

  it('`os2 python` refuses a missing script before touching the ledger', async () => {
    const before = (await events(d.dir)).length
    const r = await inDir(d.dir, ['python', 'does-not-exist.py'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error SCRIPT_NOT_FOUND: Cannot read script does-not-exist\.py: ENOENT/)
    expect((await events(d.dir)).length).toBe(before)
  })

  it('`os2 pyvm run` names an unknown module', async () => {
    const r = await inDir(d.dir, ['pyvm', 'run', 'no_such_module'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/error UNKNOWN_MODULE: No Python module named no_such_module/)
  })

  it('`os2 python` passes arguments as sys.argv and exits 0 on success', async () => {
    const r = await inDir(d.dir, ['python', await d.script('argv.py', 'import sys\nprint(sys.argv[1:])\n'), 'a', 'b c'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe("['a', 'b c']\n")
  })

  it('`os2 doctor` says what isolation this machine gives', async () => {
    const r = await inDir(d.dir, ['--json', 'doctor'])
    expect(r.code, r.stderr).toBe(0)
    const report = JSON.parse(r.stdout) as { pyodide: string, isolation: { permissionModel: boolean, emptyEnvironment: boolean, networkNamespace: { available: boolean } }, snapshotCache: { folder: string, current: { snapshot: string, present: boolean, codeCache: boolean, wasmCache: string } } }
    expect(report.pyodide).toMatch(/^\d+\.\d+\.\d+/)
    // Earlier tests in this file ran Python, so the per-user snapshot folder exists and was made private.
    expect(report.snapshotCache.folder).toBe('private')
    // ...and this version's snapshot with both caches, the WASM one made from this pyodide.asm.wasm.
    expect(report.snapshotCache.current).toMatchObject({ present: true, codeCache: true, wasmCache: 'fresh' })
    expect(report.snapshotCache.current.snapshot).toMatch(/pyodide-[\d.]+-[0-9a-f]{16}\.snap$/)
    expect(report.isolation.permissionModel).toBe(true)
    expect(report.isolation.emptyEnvironment).toBe(true)
    expect(typeof report.isolation.networkNamespace.available).toBe('boolean')
  })
})
