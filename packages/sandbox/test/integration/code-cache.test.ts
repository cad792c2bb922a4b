import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { codeCachePath } from '../../src/paths.ts'
import { spawnSessionProcess } from '../../src/session-process.ts'
import type { ChildMessage, SessionProcess } from '../../src/session-process.ts'
import { ensureSnapshot } from '../../src/snapshot-cache.ts'

const MAGIC = Buffer.from('OS2-V8-CODE-CACHE-3\n')

/** The parts of a code cache file: after MAGIC and the SHA-256 of the rest, a flags byte, the source length, the linking record's length, the source, the record, V8's data. */
function parts (file: Buffer): { rest: Buffer, source: string, record: string, data: Buffer } {
  const rest = file.subarray(MAGIC.length + 32)
  const sourceEnd = 9 + rest.readUInt32LE(1)
  const recordEnd = sourceEnd + rest.readUInt32LE(5)
  return { rest, source: rest.toString('utf8', 9, sourceEnd), record: rest.toString('utf8', sourceEnd, recordEnd), data: rest.subarray(recordEnd) }
}

/** A code cache file around `rest`, with a valid checksum. */
function envelope (rest: Buffer): Buffer {
  return Buffer.concat([MAGIC, createHash('sha256').update(rest).digest(), rest])
}

/** The same code cache with another linking record (re-checksummed). */
function withRecord (file: Buffer, record: string): Buffer {
  const { rest, source, data } = parts(file)
  const src = Buffer.from(source, 'utf8')
  const rec = Buffer.from(record, 'utf8')
  const meta = Buffer.from(rest.subarray(0, 9))
  meta.writeUInt32LE(rec.length, 5)
  return envelope(Buffer.concat([meta, src, rec, data]))
}

async function until<T extends ChildMessage['t']> (proc: SessionProcess, t: T): Promise<Extract<ChildMessage, { t: T }>> {
  for (;;) {
    const msg = await proc.next()
    if (msg.t === t) return msg as Extract<ChildMessage, { t: T }>
    if (msg.t === 'exit') throw new Error(`child exited before '${t}': ${msg.stderr}`)
  }
}

/** Spawns a child on `snapshotPath`, checks how it loaded Pyodide's JS, and runs a script in it. */
async function startAndRun (snapshotPath: string, opts: { linkDigest?: boolean } = {}): Promise<{ codeCache: string | undefined, link: string | undefined, linkDigest: string | undefined, stdout: string }> {
  const proc = spawnSessionProcess({ snapshotPath, ...opts })
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
    return { codeCache: loaded.phases?.codeCache, link: loaded.phases?.link, linkDigest: loaded.phases?.linkDigest, stdout }
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
    expect(rest[0]).toBe(3) // the heap-restore and the linking patches
    // The other exact-text patches (pyodide-code-cache.mjs) are in too.
    for (const patched of ['__os2.link.wrapperModule(sig,bytes)', 'var syms=Object.keys(exports);', '__os2.link.main(origExports,', '__os2.link.refusedByTables(func)', '__os2.link.addFresh(']) expect(source).toContain(patched)
    expect(data.length).toBeGreaterThan(100_000)
    expect(statSync(cache).mtimeMs).toBeLessThanOrEqual(statSync(snapshot).mtimeMs)

    const { codeCache, link, stdout } = await startAndRun(snapshot)
    expect(codeCache).toBe('accepted')
    expect(link).toBe('replayed')
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
    const forged = envelope(forgedRest)
    const { codeCache, stdout } = await startAndRun(snapshotCopyWith(snapshot, forged))
    expect(codeCache).toBe('rejected')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('without a code cache beside the snapshot the child compiles from source', async () => {
    const snapshot = await ensureSnapshot()
    const { codeCache, link, stdout } = await startAndRun(snapshotCopyWith(snapshot, undefined))
    expect(codeCache).toBe('none')
    expect(link).toBe('none')
    expect(stdout).toBe('{"x": 42}\n')
  })
})

describe('the linking replay (emscripten-link.mjs)', () => {
  it('ensureSnapshot() records the main module\'s linking with the code cache', async () => {
    const snapshot = await ensureSnapshot()
    const { record } = parts(readFileSync(codeCachePath(snapshot)))
    const parsed = JSON.parse(record) as { v: number, tableBefore: number, tableAfter: number, names: string, kinds: string, values: number[] }
    expect(parsed.v).toBe(1)
    expect(parsed.tableAfter).toBeGreaterThan(parsed.tableBefore)
    expect(parsed.kinds.length).toBe(parsed.names.split('\0').length - 1)
    expect(parsed.values.length).toBe([...parsed.kinds].filter((k) => k === 'f').length)
  })

  it('the replay links the function table and the GOT exactly as Emscripten\'s own linking does', async () => {
    const snapshot = await ensureSnapshot()
    const replayed = await startAndRun(snapshot, { linkDigest: true })
    const unpatched = await startAndRun(snapshotCopyWith(snapshot, undefined), { linkDigest: true })
    expect(replayed.link).toBe('replayed')
    expect(unpatched.link).toBe('none')
    expect(replayed.linkDigest).toMatch(/^[0-9a-f]{64}$/)
    expect(replayed.linkDigest).toBe(unpatched.linkDigest)
  })

  it('a record that does not match the module (a moved slot, a renamed export, another table size, junk) is not replayed, and the session links as before and runs', async () => {
    const snapshot = await ensureSnapshot()
    const file = readFileSync(codeCachePath(snapshot))
    const good = JSON.parse(parts(file).record) as { tableBefore: number, names: string, kinds: string, values: number[] }
    const existing = good.values.findIndex((v) => v < good.tableBefore)
    const forgeries = [
      { ...good, values: good.values.map((v, i) => i === existing ? v + 1 : v) },
      { ...good, names: good.names.replace('\0', 'x\0') },
      { ...good, tableBefore: good.tableBefore + 1 },
      { v: 1 }
    ]
    for (const forged of forgeries) {
      const { codeCache, link, linkDigest, stdout } = await startAndRun(snapshotCopyWith(snapshot, withRecord(file, JSON.stringify(forged))), { linkDigest: true })
      expect(codeCache).toBe('accepted')
      expect(link).toBe('mismatch')
      expect(stdout).toBe('{"x": 42}\n')
      expect(linkDigest).toBe((await startAndRun(snapshot, { linkDigest: true })).linkDigest)
    }
  })

  it('a record whose checksum fails is not used', async () => {
    const snapshot = await ensureSnapshot()
    const file = Buffer.from(readFileSync(codeCachePath(snapshot)))
    const { rest, source } = parts(file)
    const at = MAGIC.length + 32 + 9 + Buffer.byteLength(source) + 100 // inside the record
    expect(rest.length).toBeGreaterThan(at)
    file[at] = file[at]! ^ 0x01
    const { codeCache, link, stdout } = await startAndRun(snapshotCopyWith(snapshot, file))
    expect(codeCache).toBe('corrupt')
    expect(link).toBe('none')
    expect(stdout).toBe('{"x": 42}\n')
  })
})
