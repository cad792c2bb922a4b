import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { pyodideDir, wasmCachePath } from './paths.ts'
import { spawnSessionProcess } from './session-process.ts'
import type { ChildMessage, SessionProcess } from './session-process.ts'

/** Must match child/wasm-code-cache.mjs, which writes the file. */
const MAGIC = Buffer.from('OS2-WASM-CODE-CACHE-1\n')

/**
 * What the cache-making child runs after setting up a session, so that the
 * functions a first script needs are in the cache too: output, formatting,
 * a dict, sorting, an exception, the os2 module.
 */
const WARM_UP = `import os2
squares = {str(i): i * i for i in range(200)}
text = ", ".join(f"{k}={v}" for k, v in sorted(squares.items())[:20])
try:
    raise ValueError(text[:12])
except ValueError as err:
    message = str(err)
print(len(text), message, sum(squares.values()), [x for x in range(5)], 2 ** 70 // 3, 1.5 * 3)
`

let stampMemo: { file: string, stat: string, stamp: string } | undefined

/**
 * The stamp of pyodide.asm.wasm a cache must have been made for: what
 * `wasmStamp` in child/wasm-code-cache.mjs computes from the bytes (their
 * length and a SHA-256 of 17 slices of 4 KiB spread over them), read here
 * slice by slice, and remembered while the file's inode, size and mtime stay.
 */
export function currentWasmStamp (): string {
  const file = join(pyodideDir(), 'pyodide.asm.wasm')
  const st = statSync(file)
  const stat = `${st.ino}:${st.size}:${st.mtimeMs}`
  if (stampMemo?.file === file && stampMemo.stat === stat) return stampMemo.stamp
  const h = createHash('sha256')
  const slice = Buffer.alloc(4096)
  const fd = openSync(file, 'r')
  try {
    for (let i = 0; i <= 16; i++) {
      const at = Math.max(0, Math.floor((st.size - slice.length) * i / 16))
      const n = readSync(fd, slice, 0, slice.length, at)
      h.update(slice.subarray(0, n))
    }
  } finally {
    closeSync(fd)
  }
  const stamp = `${st.size}:${h.digest('hex').slice(0, 32)}`
  stampMemo = { file, stat, stamp }
  return stamp
}

/** The stamp a cache file was made for; undefined when there is no readable cache file. */
export function wasmCacheStamp (file: string): string | undefined {
  let fd: number
  try { fd = openSync(file, 'r') } catch { return undefined }
  try {
    const head = Buffer.alloc(MAGIC.length + 32 + 2 + 256)
    const n = readSync(fd, head, 0, head.length, 0)
    const at = MAGIC.length + 32
    if (n < at + 2 || !head.subarray(0, MAGIC.length).equals(MAGIC)) return undefined
    const end = at + 2 + head.readUInt16LE(at)
    return end > n ? undefined : head.toString('utf8', at + 2, end)
  } finally {
    closeSync(fd)
  }
}

async function until<T extends ChildMessage['t']> (proc: SessionProcess, t: T): Promise<Extract<ChildMessage, { t: T }>> {
  for (;;) {
    const msg = await proc.next()
    if (msg.t === t) return msg as Extract<ChildMessage, { t: T }>
    if (msg.t === 'exit') throw new Error(`the child exited before '${t}' (${String(msg.killReason ?? msg.code ?? msg.signal)}): ${msg.stderr.slice(-500)}`)
  }
}

/**
 * Makes the WASM cache for `snapshotPath`: a child restores the snapshot,
 * sets up a session, runs the warm-up and writes the cache. With
 * `optimizeAll` every function it runs is compiled with TurboFan (else only
 * the exported ones). Returns the cache's size in bytes.
 *
 * @throws Error when the child fails (sessions then compile the module, as without a cache)
 */
export async function makeWasmCache (snapshotPath: string, optimizeAll: boolean): Promise<number> {
  const proc = spawnSessionProcess({ snapshotPath, makeWasmCacheAt: wasmCachePath(snapshotPath), optimizeAll })
  const timeout = setTimeout(() => { proc.kill('wasm cache timeout') }, 120_000)
  try {
    await until(proc, 'loaded')
    proc.send({ t: 'init', seed: '0', epochNs: '0', outputLimitBytes: 1 << 20, scratchDir: proc.scratchDir, hardening: true, wheels: [] })
    await until(proc, 'ready')
    proc.send({ t: 'run', id: 1, code: WARM_UP, unitBudget: 100_000_000, argv: [] })
    const done = await until(proc, 'done')
    if (done.status !== 'ok') throw new Error(`the warm-up script ended ${done.status}: ${done.error?.message ?? ''}`)
    proc.send({ t: 'save_wasm_cache' })
    return (await until(proc, 'wasm_cache')).bytes
  } finally {
    clearTimeout(timeout)
    proc.dispose()
  }
}

/** How a fresh session child on `snapshotPath` got its WASM module (`phases.wasmCache`). */
export async function sessionWasmCacheState (snapshotPath: string): Promise<string | undefined> {
  const proc = spawnSessionProcess({ snapshotPath })
  const timeout = setTimeout(() => { proc.kill('wasm cache check timeout') }, 60_000)
  try {
    return (await until(proc, 'loaded')).phases?.wasmCache
  } finally {
    clearTimeout(timeout)
    proc.dispose()
  }
}

/**
 * The cache made with every function that ran compiled by TurboFan, if a
 * session accepts it (the child changed V8 flags to make it, and V8 refuses
 * a cache made under flags other than its own), else the one with only the
 * exported functions compiled.
 */
async function makeBestWasmCache (snapshotPath: string): Promise<void> {
  await makeWasmCache(snapshotPath, true)
  if (await sessionWasmCacheState(snapshotPath) === 'accepted') return
  // Not left in place if the second kind fails too: each session would read and offer it to V8 in vain.
  rmSync(wasmCachePath(snapshotPath), { force: true })
  await makeWasmCache(snapshotPath, false)
}

const attempts = new Map<string, Promise<void>>()

/**
 * Makes the WASM cache beside `snapshotPath` unless a fresh one is there.
 * Best effort, tried once per snapshot per process: without a cache a
 * session compiles the module (~50-80 ms slower to start), nothing else.
 */
export async function ensureWasmCache (snapshotPath: string): Promise<void> {
  const file = wasmCachePath(snapshotPath)
  if (wasmCacheStamp(file) === currentWasmStamp()) return
  let job = attempts.get(file)
  if (job === undefined) {
    job = makeBestWasmCache(snapshotPath).catch(async () => { await makeWasmCache(snapshotPath, false) }).catch(() => undefined)
    attempts.set(file, job)
  }
  await job
}
