import { createHash } from 'node:crypto'
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { codeCachePath, wasmCachePath } from '../../src/paths.ts'
import { spawnSessionProcess } from '../../src/session-process.ts'
import type { ChildMessage, SessionProcess } from '../../src/session-process.ts'
import { ensureSnapshot } from '../../src/snapshot-cache.ts'
import { currentWasmStamp, ensureWasmCache, makeWasmCache, sessionWasmCacheState, wasmCacheStamp } from '../../src/wasm-cache.ts'

const MAGIC = Buffer.from('OS2-WASM-CODE-CACHE-1\n')

/** A cache file around `stamp` and V8's `data`, with a valid checksum. */
function envelope (stamp: string, data: Buffer): Buffer {
  const s = Buffer.from(stamp, 'utf8')
  const len = Buffer.alloc(2)
  len.writeUInt16LE(s.length, 0)
  const rest = Buffer.concat([len, s, data])
  return Buffer.concat([MAGIC, createHash('sha256').update(rest).digest(), rest])
}

/** The stamp and V8's data of a cache file. */
function parts (file: Buffer): { stamp: string, data: Buffer } {
  const rest = file.subarray(MAGIC.length + 32)
  const end = 2 + rest.readUInt16LE(0)
  return { stamp: rest.toString('utf8', 2, end), data: rest.subarray(end) }
}

async function until<T extends ChildMessage['t']> (proc: SessionProcess, t: T): Promise<Extract<ChildMessage, { t: T }>> {
  for (;;) {
    const msg = await proc.next()
    if (msg.t === t) return msg as Extract<ChildMessage, { t: T }>
    if (msg.t === 'exit') throw new Error(`child exited before '${t}': ${msg.stderr}`)
  }
}

/** Spawns a child on `snapshotPath`, says how it got its WASM module, and runs `code` in it. */
async function startAndRun (snapshotPath: string, code = 'import json\nprint(json.dumps({"x": 6 * 7}))', hardening = true): Promise<{ wasmCache: string | undefined, stdout: string, status: string }> {
  const proc = spawnSessionProcess({ snapshotPath })
  try {
    const loaded = await until(proc, 'loaded')
    proc.send({ t: 'init', seed: '7', epochNs: '0', outputLimitBytes: 1 << 20, scratchDir: proc.scratchDir, hardening, wheels: [] })
    await until(proc, 'ready')
    proc.send({ t: 'run', id: 1, code, unitBudget: 5_000_000, argv: [] })
    let stdout = ''
    for (;;) {
      const msg = await proc.next()
      if (msg.t === 'out' && msg.s === 'stdout') stdout += Buffer.from(msg.b, 'base64').toString('utf8')
      if (msg.t === 'done') return { wasmCache: loaded.phases?.wasmCache, stdout, status: msg.status }
      if (msg.t === 'exit') throw new Error(`child exited during the run: ${msg.stderr}`)
    }
  } finally {
    proc.dispose()
  }
}

const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

/** A copy of the snapshot (and its JS code cache) in a fresh private folder, with `cache` (or nothing) as its WASM cache. */
function snapshotCopyWith (snapshot: string, cache: Buffer | undefined): string {
  const dir = mkdtempSync(join(tmpdir(), 'os2-wasm-cache-'))
  dirs.push(dir)
  const copy = join(dir, basename(snapshot))
  copyFileSync(snapshot, copy)
  copyFileSync(codeCachePath(snapshot), codeCachePath(copy))
  if (cache !== undefined) writeFileSync(wasmCachePath(copy), cache)
  return copy
}

describe('the compiled WASM module cache (wasm-code-cache.mjs)', () => {
  it('ensureSnapshot() writes a checksummed cache for this pyodide.asm.wasm, and a fresh child starts from it and runs', async () => {
    const snapshot = await ensureSnapshot()
    const file = readFileSync(wasmCachePath(snapshot))
    expect(file.subarray(0, MAGIC.length).equals(MAGIC)).toBe(true)
    const rest = file.subarray(MAGIC.length + 32)
    expect(createHash('sha256').update(rest).digest().equals(file.subarray(MAGIC.length, MAGIC.length + 32))).toBe(true)
    expect(parts(file).stamp).toBe(currentWasmStamp())
    // Machine code for the functions the warm-up ran, not just a list of them.
    expect(parts(file).data.length).toBeGreaterThan(200_000)
    const { wasmCache, stdout, status } = await startAndRun(snapshot)
    expect(wasmCache).toBe('accepted')
    expect(status).toBe('ok')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('a session from the cache computes what a session that compiled the module computes', async () => {
    const snapshot = await ensureSnapshot()
    const code = 'import hashlib, random\nrandom.seed(3)\nprint(hashlib.sha256(str([random.random() for _ in range(50)]).encode()).hexdigest(), sum(i * i for i in range(10000)), sorted({"b": 1, "a": 2}.items()))'
    const cached = await startAndRun(snapshot, code)
    const compiled = await startAndRun(snapshotCopyWith(snapshot, undefined), code)
    expect(cached.wasmCache).toBe('accepted')
    expect(compiled.wasmCache).toBe('none')
    expect(cached.stdout).toBe(compiled.stdout)
    expect(cached.stdout).toMatch(/^[0-9a-f]{64} 333283335000 \[\('a', 2\), \('b', 1\)\]\n$/)
  })

  it('a corrupt cache (its checksum fails) is not given to V8, and the session compiles the module and runs', async () => {
    const snapshot = await ensureSnapshot()
    const bytes = Buffer.from(readFileSync(wasmCachePath(snapshot)))
    for (let i = bytes.length - 1; i > MAGIC.length + 200; i -= 49_999) bytes[i] = bytes[i]! ^ 0x5a
    const { wasmCache, stdout } = await startAndRun(snapshotCopyWith(snapshot, bytes))
    expect(wasmCache).toBe('corrupt')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('a cache made from another pyodide.asm.wasm (its stamp differs) is stale and not used', async () => {
    const snapshot = await ensureSnapshot()
    const { data } = parts(readFileSync(wasmCachePath(snapshot)))
    const { wasmCache, stdout } = await startAndRun(snapshotCopyWith(snapshot, envelope('1:2:3', data)))
    expect(wasmCache).toBe('stale')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('a well-formed cache V8 refuses (its header names another V8) still gives a working session', async () => {
    const snapshot = await ensureSnapshot()
    const { stamp, data } = parts(readFileSync(wasmCachePath(snapshot)))
    const forged = Buffer.from(data)
    forged.writeUInt32LE((forged.readUInt32LE(4) ^ 0xffffffff) >>> 0, 4) // V8's version hash
    const { wasmCache, stdout } = await startAndRun(snapshotCopyWith(snapshot, envelope(stamp, forged)))
    expect(wasmCache).toBe('rejected')
    expect(stdout).toBe('{"x": 42}\n')
  })

  it('V8 natives syntax, used to deserialize the cache, is off before any script runs', async () => {
    const snapshot = await ensureSnapshot()
    // Without the in-process hardening the script can reach JS; compiling `%` syntax must still fail.
    const code = [
      'import js',
      'try:',
      '    js.Function("return %IsBeingInterpreted()")',
      '    print("natives on")',
      'except Exception as err:',
      '    print(type(err).__name__, "SyntaxError" in str(err))'
    ].join('\n')
    const { wasmCache, stdout } = await startAndRun(snapshot, code, false)
    expect(wasmCache).toBe('accepted')
    expect(stdout).toBe('JsException True\n')
  })

  it('ensureWasmCache() replaces a stale cache beside a snapshot, and leaves a fresh one alone', async () => {
    const snapshot = await ensureSnapshot()
    const copy = snapshotCopyWith(snapshot, envelope('1:2:3', Buffer.alloc(64)))
    expect(wasmCacheStamp(wasmCachePath(copy))).toBe('1:2:3')
    await ensureWasmCache(copy)
    expect(wasmCacheStamp(wasmCachePath(copy))).toBe(currentWasmStamp())
    const made = readFileSync(wasmCachePath(copy))
    await ensureWasmCache(copy)
    expect(readFileSync(wasmCachePath(copy)).equals(made)).toBe(true)
    expect((await startAndRun(copy)).wasmCache).toBe('accepted')
  })

  it('the cache holds TurboFan code for every function the warm-up ran, not only the exported ones, and sessions accept both kinds', async () => {
    const snapshot = await ensureSnapshot()
    const everything = readFileSync(wasmCachePath(snapshot))
    const copy = snapshotCopyWith(snapshot, undefined)
    await makeWasmCache(copy, false)
    const exportedOnly = readFileSync(wasmCachePath(copy))
    expect(await sessionWasmCacheState(copy)).toBe('accepted')
    expect(await sessionWasmCacheState(snapshot)).toBe('accepted')
    // The functions the warm-up ran outside the exports are machine code too.
    expect(parts(everything).data.length).toBeGreaterThan(2 * parts(exportedOnly).data.length)
  })

  it('without a cache beside the snapshot the child compiles the module', async () => {
    const snapshot = await ensureSnapshot()
    const copy = snapshotCopyWith(snapshot, undefined)
    expect(existsSync(wasmCachePath(copy))).toBe(false)
    const { wasmCache, stdout } = await startAndRun(copy)
    expect(wasmCache).toBe('none')
    expect(stdout).toBe('{"x": 42}\n')
  })
})
