import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Sandbox } from '../../src/index.ts'
import { fakeKernel, openSandbox } from './helpers.ts'
import type { FakeKernel } from './helpers.ts'

let kernel: FakeKernel
let sandbox: Sandbox

beforeAll(async () => {
  kernel = fakeKernel({
    'net.fetch': (args) => ({ status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: (args as { url: string }).url }) }),
    'boom': () => { throw new Error('handler exploded') }
  })
  sandbox = await openSandbox({}, kernel)
})

afterAll(async () => { await sandbox.close() })

describe('the os2 syscall bridge', () => {
  it('os2.invoke() blocks until the parent answers and returns its value', async () => {
    const r = await sandbox.run('import os2\nv = os2.invoke("echo", {"a": [1, 2], "b": None})\nprint(v["a"][1], v["b"])')
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('2 None\n')
    expect(kernel.calls.at(-1)).toEqual({ capability: 'echo', args: { a: [1, 2], b: null } })
  })

  it('os2.invoke() raises CapabilityError with the kernel code when denied', async () => {
    const r = await sandbox.run('import os2\ntry:\n    os2.invoke("fs.read", {"path": "/x"})\nexcept os2.CapabilityError as e:\n    print(e.code)')
    expect(r.stdout).toBe('CAPABILITY_DENIED\n')
  })

  it('os2.state, os2.emit and os2.fetch go through kernel capabilities', async () => {
    const r = await sandbox.run([
      'import os2',
      'os2.state.put("k", {"n": 1})',
      'print(os2.state.get("k"), os2.state.get("missing", "dflt"))',
      'os2.emit("progress", {"pct": 50})',
      'resp = os2.fetch("http://127.0.0.1:1/x")',
      'print(resp.status, resp.json()["url"])'
    ].join('\n'))
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe("{'n': 1} dflt\n200 http://127.0.0.1:1/x\n")
    const caps = kernel.calls.map((c) => c.capability)
    expect(caps).toEqual(expect.arrayContaining(['kernel.state.put', 'kernel.state.get', 'kernel.emit', 'net.fetch']))
  })

  it('os2.invoke() reports a throwing handler as HANDLER_FAILED', async () => {
    const r = await sandbox.run('import os2\ntry:\n    os2.invoke("boom")\nexcept os2.CapabilityError as e:\n    print(e.code)')
    expect(r.stdout).toBe('HANDLER_FAILED\n')
  })

  it('run() streams stdout and stderr live through onOutput', async () => {
    const seen: string[] = []
    const r = await sandbox.run('import sys\nprint("a")\nprint("b", file=sys.stderr)', { onOutput: (s, c) => { seen.push(`${s}:${c}`) } })
    expect(r.stdout).toBe('a\n')
    expect(r.stderr).toBe('b\n')
    expect(seen).toEqual(['stdout:a\n', 'stderr:b\n'])
  })

  it('run() passes argv to sys.argv', async () => {
    const r = await sandbox.run('import sys\nprint(sys.argv)', { argv: ['--n', '3'] })
    expect(r.stdout).toBe("['<script>', '--n', '3']\n")
  })

  it('run() gives a clear error for a syntax error', async () => {
    const r = await sandbox.run('def f(:\n    pass')
    expect(r.status).toBe('error')
    expect(r.error?.code).toBe('PYTHON_SYNTAX_ERROR')
    expect(r.error?.pythonType).toBe('SyntaxError')
    expect(r.error?.message).toContain('line 1')
  })

  it('run() gives a clear error for a missing module', async () => {
    const r = await sandbox.run('import numpy_that_does_not_exist')
    expect(r.status).toBe('error')
    expect(r.error?.pythonType).toBe('ModuleNotFoundError')
    expect(r.error?.message).toBe("ModuleNotFoundError: No module named 'numpy_that_does_not_exist'")
  })

  it('run() reports a non-zero sys.exit and accepts sys.exit(0)', async () => {
    expect((await sandbox.run('import sys\nsys.exit(3)')).error?.code).toBe('PYTHON_EXIT')
    expect((await sandbox.run('import sys\nsys.exit(0)')).status).toBe('ok')
  })
})

describe('Sandbox.close()', () => {
  it('close() ends a run in flight with status killed', async () => {
    const other = await openSandbox({}, fakeKernel())
    const running = other.run('while True:\n    pass', { unitBudget: 10 ** 12 })
    await new Promise((resolve) => setTimeout(resolve, 200))
    await other.close()
    const r = await running
    expect(r.status).toBe('killed')
    expect(r.error?.code).toBe('SANDBOX_CLOSED')
    expect(other.alive).toBe(false)
  })

  it('run() ignores an onOutput listener that throws', async () => {
    const r = await sandbox.run('print("a")\nprint("b")', { onOutput: () => { throw new Error('listener bug') } })
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('a\nb\n')
  })
})
