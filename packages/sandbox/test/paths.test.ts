import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { childDir, hostScript, pyodideDir, pyodideVersion } from '../src/paths.ts'

describe('paths', () => {
  it('pyodideDir() holds the Pyodide runtime the child loads', () => {
    expect(existsSync(join(pyodideDir(), 'pyodide.mjs'))).toBe(true)
    expect(existsSync(join(pyodideDir(), 'pyodide.asm.wasm'))).toBe(true)
    expect(pyodideVersion()).toMatch(/^314\.0\./)
  })

  it('childDir() holds the host script and the Python harness', () => {
    expect(hostScript()).toBe(join(childDir(), 'host.mjs'))
    for (const f of ['host.mjs', 'harness.py', 'preload.py']) expect(existsSync(join(childDir(), f))).toBe(true)
  })
})
