import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { expect } from 'vitest'
import { ledgerEvents, os2, tempDir } from './harness.ts'
import type { RunResult } from './harness.ts'

export interface LedgerEvent { seq: number, type: string, hash: string, token_id?: string | null, payload: Record<string, unknown> }

/** A fresh initialised data dir (seed 7) inside a temp dir; `script()` writes a script file next to it. */
export async function pythonDir (seed = '7'): Promise<{ root: string, dir: string, cleanup: () => Promise<void>, script: (name: string, code: string) => Promise<string> }> {
  const t = await tempDir('os2-py-')
  const dir = join(t.path, 'data')
  const init = await os2(['--data-dir', dir, 'init', '--seed', seed])
  expect(init.code, init.stderr).toBe(0)
  return {
    root: t.path,
    dir,
    cleanup: t.cleanup,
    script: async (name, code) => {
      const path = join(t.path, name)
      await writeFile(path, code)
      return path
    }
  }
}

/** `os2 --data-dir <dir> …args`. */
export async function inDir (dir: string, args: string[], options: Parameters<typeof os2>[1] = {}): Promise<RunResult> {
  return await os2(['--data-dir', dir, ...args], options)
}

export async function events (dir: string): Promise<LedgerEvent[]> {
  return await ledgerEvents(dir) as LedgerEvent[]
}

/** The id of the newest python.exec / pip.install / module.mount token in the ledger. */
export function lastToken (evs: LedgerEvent[], prefix = 'python-'): string {
  const scheduled = evs.filter(e => e.type === 'scheduled' && typeof e.token_id === 'string' && e.token_id.startsWith(prefix))
  const id = scheduled[scheduled.length - 1]?.token_id
  if (typeof id !== 'string') throw new Error(`no ${prefix} token in the ledger`)
  return id
}

export function ofToken (evs: LedgerEvent[], tokenId: string): LedgerEvent[] {
  return evs.filter(e => e.token_id === tokenId)
}

/** Units the sandbox reported for a token (its `python.exit` event). */
export function unitsOf (evs: LedgerEvent[], tokenId: string): number {
  const exit = ofToken(evs, tokenId).find(e => e.type === 'custom' && e.payload.name === 'python.exit')
  return Number((exit?.payload.data as { units?: number } | undefined)?.units)
}

/** The ledger head the CLI reports. */
export async function head (dir: string): Promise<string> {
  const r = await inDir(dir, ['--json', 'ledger-inspect', '--limit', '1'])
  return String((JSON.parse(r.stdout) as { head: string }).head)
}
