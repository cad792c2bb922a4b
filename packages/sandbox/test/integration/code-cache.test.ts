import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { codeCachePath } from '../../src/paths.ts'
import { spawnSessionProcess } from '../../src/session-process.ts'
import type { ChildMessage, SessionProcess } from '../../src/session-process.ts'
import { ensureSnapshot } from '../../src/snapshot-cache.ts'

const MAGIC = Buffer.from('OS2-V8-CODE-CACHE-2\n')

/** The parts of a code cache file: after MAGIC and the SHA-256 of the rest, a flags byte, the source length, the source, V8's data. */
function parts (file: Buffer): { rest: Buffer, source: string, data: Buffer } {
  const rest = file.subarray(MAGIC.length + 32)
  const sourceEnd = 5 + rest.readUInt32LE(1)
  return { rest, source: rest.toString('utf8', 5, sourceEnd), data: rest.subarray(sourceEnd) }
}

async function until<T extends ChildMessage['t']> (proc: SessionProcess, t: T): Promise<Extract<ChildMessage, { t: T }>> {
  for (;;) {
    const msg = await proc.next()
    if (msg.t === t) return msg as Extract<ChildMessage, { t: T }>
    if (msg.t === 'exit') throw new Error(`child exited before '${t}': ${msg.stderr}`)
  }
}

/** Spawns a child on `snapshotPath`, checks how it loaded Pyodide's JS, and runs a script in it. */
async function startAndRun (snapshotPath: string): Promise<{ codeCache: string | undefined, stdout: string }> {
  const proc = spawnSessionProcess({ snapshotPath })
  try {
    const loaded = await until(proc, 'loaded')
    proc.send({ t: 'init', seed: '7', epochNs: '0', outputLimitBytes: 1 << 20, scratchDir: proc.scratchDir, hardening: true, wheels: [] })
    await until(proc, 'ready')
    proc.send({ t: 'run', id: 1, code: 'import json\nprint(json.dumps({"x": 6 * 7}))', unitBudget: 5_000_000, argv: [] })
    let stdout = ''
    for (;;) {
      const msg = await proc.next()
      if (msg.t === 'out' && msg.s === 'stdout') stdout += Buffer.from(msg.b, 'base64').toString('utf8')
      if (msg.t === 'done') {
        expect(msg.status).toBe('ok')
        break
      }
      if (msg.t === 'exit') throw new Error(`child exited during the run: ${msg.stderr}`)
    }
    return { codeCache: loaded.phases?.codeCache, stdout }
  } finally {
    proc.dispose()
  }
}

/** A copy of the snapshot in a fresh folder, with `cache` (or nothing) as its code cache. */
function snapshotCopyWith (snapshot: string, cache: Buffer | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'os2-code-cache-'))
  dirs.push(dir)
  const copy = join(dir, basename(snapshot))
  copyFileSync(snapshot, copy)
  if (cache !== undefined) writeFileSync(codeCachePath(copy), cache)
  return copy
}

const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

describe('the V8 code cache for Pyodide\'s JS', () => {
  it('ensureSnapshot() writes a checksummed code cache beside the snapshot, and a fresh child compiles Pyodide\'s JS from it', async () => {
    const snapshot = await ensureSnapshot()
    const cache = codeCachePath(snapshot)
    expect(existsSync(cache)).toBe(true)
    const bytes = readFileSync(cache)
    expect(bytes.subarray(0, MAGIC.length).equals(MAGIC)).toBe(true)
    const { rest, source, data } = parts(bytes)
    expect(createHash('sha256').update(rest).digest().equals(bytes.subarray(MAGIC.length, MAGIC.length + 32))).toBe(true)
    // Pyodide's module as a script: no module-only syntax left, the heap restore patched.
    expect(source.startsWith("(function (__os2) {'use strict';async function _createPyodideModule(")).toBe(true)
    expect(source).not.toContain('import.meta')
    expect(source).not.toContain('export default')
    expect(rest[0]).toBe(1)
    expect(data.length).toBeGreaterThan(100_000)
    expect(statSync(cache).mtimeMs).toBeLessThanOrEqual(statSync(snapshot).mtimeMs)

    const { codeCache, stdout } = await startAndRun(snapshot)
    expect(codeCache).toBe('accepted')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('a corrupt code cache (its checksum fails) is not used, and the session still starts and runs', async () => {
    const snapshot = await ensureSnapshot()
    const bytes = Buffer.from(readFileSync(codeCachePath(snapshot)))
    for (let i = MAGIC.length + 32 + 1000; i < bytes.length; i += 99_991) bytes[i] = bytes[i]! ^ 0x5a
    const { codeCache, stdout } = await startAndRun(snapshotCopyWith(snapshot, bytes))
    expect(codeCache).toBe('corrupt')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('a well-formed cache that does not match (V8 rejects it) still gives a working session', async () => {
    const snapshot = await ensureSnapshot()
    // Valid envelope and checksum around data V8 did not produce for this source.
    const { rest, data } = parts(readFileSync(codeCachePath(snapshot)))
    const forgedRest = Buffer.from(rest)
    const at = rest.length - data.length + 8 // V8's source hash (the source's length)
    forgedRest.writeUInt32LE((forgedRest.readUInt32LE(at) ^ 0xffffffff) >>> 0, at)
    const forged = Buffer.concat([MAGIC, createHash('sha256').update(forgedRest).digest(), forgedRest])
    const { codeCache, stdout } = await startAndRun(snapshotCopyWith(snapshot, forged))
    expect(codeCache).toBe('rejected')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('without a code cache beside the snapshot the child compiles from source', async () => {
    const snapshot = await ensureSnapshot()
    const { codeCache, stdout } = await startAndRun(snapshotCopyWith(snapshot, undefined))
    expect(codeCache).toBe('none')
    expect(stdout).toBe('{"x": 42}\n')
  })
})
