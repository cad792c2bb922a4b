import { spawn } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Repository root and the real CLI entry point. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..')
export const OS2 = join(REPO, 'apps/shell/bin/os2.js')
export const EXAMPLES = join(REPO, 'examples')

export interface RunResult { code: number | null, stdout: string, stderr: string }

/**
 * Runs `node apps/shell/bin/os2.js …args` as a real process, with
 * `OS2_DATA_DIR` unset so only `--data-dir` applies, and resolves with its
 * exit code and output.
 */
export async function os2 (args: string[], options: { cwd?: string, stdin?: string, env?: Record<string, string>, uid?: number, gid?: number } = {}): Promise<RunResult> {
  const env: Record<string, string | undefined> = { ...process.env, ...options.env }
  if (options.env?.OS2_DATA_DIR === undefined) delete env.OS2_DATA_DIR
  const ids = options.uid !== undefined ? { uid: options.uid, gid: options.gid ?? options.uid } : {}
  const child = spawn(process.execPath, [OS2, ...args], { cwd: options.cwd ?? REPO, env, stdio: ['pipe', 'pipe', 'pipe'], ...ids })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s })
  child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
  child.stdin.end(options.stdin ?? '')
  const code = await new Promise<number | null>(resolve => child.on('close', resolve))
  return { code, stdout, stderr }
}

/** Parses stdout as the one JSON document `--json` promises; the error names the command when it does not parse. */
export function json<T = Record<string, unknown>> (r: RunResult): T {
  try {
    return JSON.parse(r.stdout) as T
  } catch (err) {
    throw new Error(`stdout is not one JSON document (exit ${r.code}): ${r.stdout.slice(0, 500)} / stderr: ${r.stderr.slice(0, 500)}`, { cause: err })
  }
}

/** A fresh temp dir, removed by the returned cleanup. */
export async function tempDir (prefix = 'os2-shell-'): Promise<{ path: string, cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), prefix))
  return { path, cleanup: async () => { await rm(path, { recursive: true, force: true }) } }
}

/** Every ledger segment file of a data dir, name → bytes (checkpoints excluded: they are signed with the per-dir node key). */
export async function segmentFiles (dataDir: string): Promise<Map<string, Buffer>> {
  const dir = join(dataDir, 'ledger')
  const out = new Map<string, Buffer>()
  for (const name of (await readdir(dir)).filter(n => /^segment-\d+\.jsonl$/.test(n)).sort()) out.set(name, await readFile(join(dir, name)))
  return out
}

/** All ledger bytes of a data dir, segments concatenated in order. */
export async function ledgerBytes (dataDir: string): Promise<Buffer> {
  return Buffer.concat([...(await segmentFiles(dataDir)).values()])
}

/** The parsed events of the ledger files. */
export async function ledgerEvents (dataDir: string): Promise<Array<{ seq: number, type: string, hash: string, payload: Record<string, unknown> }>> {
  return (await ledgerBytes(dataDir)).toString('utf8').split('\n').filter(l => l.length > 0).map(l => JSON.parse(l) as { seq: number, type: string, hash: string, payload: Record<string, unknown> })
}
