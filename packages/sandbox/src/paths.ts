import { createRequire } from 'node:module'
import { realpathSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)

/** Where the Pyodide distribution lives (read-only for the child). */
export function pyodideDir (): string {
  return realpathSync(dirname(require.resolve('pyodide')))
}

export function pyodideVersion (): string {
  const pkg = JSON.parse(readFileSync(join(pyodideDir(), 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

/** The folder holding the child host script and its Python harness. */
export function childDir (): string {
  return realpathSync(join(dirname(fileURLToPath(import.meta.url)), 'child'))
}

export function hostScript (): string {
  return join(childDir(), 'host.mjs')
}

/** The V8 code cache for Pyodide's JS that belongs to a snapshot (made with it, beside it). */
export function codeCachePath (snapshotPath: string): string {
  return snapshotPath.replace(/\.snap$/, '') + '.jscache'
}

/** The cached compiled WebAssembly module that belongs to a snapshot (made from it, beside it). */
export function wasmCachePath (snapshotPath: string): string {
  return snapshotPath.replace(/\.snap$/, '') + '.wasmcache'
}
