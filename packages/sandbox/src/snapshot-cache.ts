import { createHash } from 'node:crypto'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs'
import type { Stats } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { SandboxError } from './errors.ts'
import { childDir, codeCachePath, pyodideDir, pyodideVersion, wasmCachePath } from './paths.ts'
import { childV8Flags, spawnSessionProcess } from './session-process.ts'
import { currentWasmStamp, ensureWasmCache, wasmCacheStamp } from './wasm-cache.ts'

/** Default folder for Pyodide memory snapshots: one per user in the temp folder. */
export function defaultSnapshotDir (): string {
  return join(tmpdir(), `os2-sandbox-snapshots-${process.getuid?.() ?? 'user'}`)
}

/**
 * Sessions run what the snapshot folder holds (the heap image and the JS
 * code cache), so it must be this user's alone: a real folder, not a
 * symlink, owned by this user and writable by nobody else. In a shared temp
 * folder another user could otherwise create it first and plant code.
 *
 * @throws SandboxError `SNAPSHOT_DIR_UNSAFE`
 */
export function checkSnapshotDir (dir: string): void {
  const problem = snapshotDirProblem(lstatSync(dir), process.getuid?.())
  if (problem !== undefined) {
    throw new SandboxError('SNAPSHOT_DIR_UNSAFE', `Cannot keep Pyodide snapshots in ${dir}: ${problem}. Remove it (sessions make a new snapshot) or pass a private folder`)
  }
}

/**
 * The snapshot file name is keyed by everything that shapes the restored
 * memory and the code cache made with it: the Pyodide version and its JS,
 * the Node version, the children's V8 flags and every file of the child.
 */
export function snapshotFileName (): string {
  // Hashing the child's files costs ~2 ms per session start; their inode,
  // size and mtime tell when it must be done again.
  const files = [childDir(), ...readdirSync(childDir()).sort().map((f) => join(childDir(), f)), ...['package.json', 'pyodide.asm.mjs'].map((f) => join(pyodideDir(), f))]
  const stamp = files.map((f) => {
    const st = statSync(f)
    return `${f}:${st.ino}:${st.size}:${st.mtimeMs}`
  }).join('\0') + '\0' + childV8Flags().join(' ')
  if (fileNameMemo?.stamp === stamp) return fileNameMemo.name
  const name = hashedFileName()
  fileNameMemo = { stamp, name }
  return name
}

let fileNameMemo: { stamp: string, name: string } | undefined

function hashedFileName (): string {
  const h = createHash('sha256')
  h.update(pyodideVersion()).update('\0').update(process.version).update('\0').update(childV8Flags().join(' ')).update('\0')
  // Every file of the child: a new module there cannot be left out of the key.
  for (const f of readdirSync(childDir()).sort()) h.update(f).update('\0').update(readFileSync(join(childDir(), f))).update('\0')
  // The code cache made with the snapshot is for this exact pyodide.asm.mjs
  // (V8 checks only the source's length).
  h.update(asmDigest())
  return `pyodide-${pyodideVersion()}-${h.digest('hex').slice(0, 16)}.snap`
}

let asmDigestMemo: { stamp: string, digest: string } | undefined
/** SHA-256 of pyodide.asm.mjs (1.2 MB), remembered while the file's inode, size and mtime stay the same. */
function asmDigest (): string {
  const file = join(pyodideDir(), 'pyodide.asm.mjs')
  const st = statSync(file)
  const stamp = `${st.ino}:${st.size}:${st.mtimeMs}`
  if (asmDigestMemo?.stamp !== stamp) asmDigestMemo = { stamp, digest: createHash('sha256').update(readFileSync(file)).digest('hex') }
  return asmDigestMemo.digest
}

function snapshotDirProblem (st: Stats, uid: number | undefined): string | undefined {
  if (st.isSymbolicLink()) return 'it is a symbolic link'
  if (!st.isDirectory()) return 'it is not a folder'
  if (uid !== undefined && st.uid !== uid) return `it belongs to uid ${st.uid}, not to this user (uid ${uid})`
  if ((st.mode & 0o022) !== 0) return `others can write to it (mode ${(st.mode & 0o777).toString(8)})`
  return undefined
}

/** What the snapshot folder holds for this version; no process is started (for `os2 doctor`). */
export interface SnapshotCacheState {
  /** The path of this version's snapshot. */
  snapshot: string
  present: boolean
  /** The V8 code cache for Pyodide's JS is beside it. */
  codeCache: boolean
  /** The compiled WASM cache: made from this pyodide.asm.wasm, from another one, or not there. */
  wasmCache: 'fresh' | 'stale' | 'missing'
}

export function snapshotCacheState (dir: string = defaultSnapshotDir()): SnapshotCacheState {
  const snapshot = join(dir, snapshotFileName())
  const stamp = wasmCacheStamp(wasmCachePath(snapshot))
  return {
    snapshot,
    present: existsSync(snapshot),
    codeCache: existsSync(codeCachePath(snapshot)),
    wasmCache: stamp === undefined ? 'missing' : stamp === currentWasmStamp() ? 'fresh' : 'stale'
  }
}

/** A snapshot and its caches nobody has read for this long are removed when a new snapshot is made. */
export const STALE_SNAPSHOT_MS = 7 * 24 * 3600 * 1000

/**
 * Removes the snapshots (and their caches) of other versions from the
 * snapshot folder once none of their files has been read or written for
 * `STALE_SNAPSHOT_MS`: every change to the child or to Pyodide makes a new
 * ~37 MB set, and nothing else removes the old ones. A version still in
 * use keeps its files (reading them updates their access time, at least
 * daily under `relatime`). Returns the names removed.
 */
export function pruneStaleSnapshots (current: string, nowMs: number = Date.now()): string[] {
  const dir = dirname(current)
  const keep = basename(current).replace(/\.snap$/, '')
  const sets = new Map<string, { files: string[], lastUse: number }>()
  for (const name of readdirSync(dir)) {
    const m = /^(pyodide-.+?)\.(snap|jscache|wasmcache)(\.\d+\.tmp)?$/.exec(name) // temp files a killed maker left too
    if (m?.[1] === undefined || m[1] === keep) continue
    let st
    try { st = lstatSync(join(dir, name)) } catch { continue }
    if (!st.isFile()) continue
    const set = sets.get(m[1]) ?? { files: [], lastUse: 0 }
    set.files.push(name)
    set.lastUse = Math.max(set.lastUse, st.atimeMs, st.mtimeMs)
    sets.set(m[1], set)
  }
  const removed: string[] = []
  for (const { files, lastUse } of sets.values()) {
    if (nowMs - lastUse < STALE_SNAPSHOT_MS) continue
    for (const f of files) {
      try {
        rmSync(join(dir, f), { force: true })
        removed.push(f)
      } catch { /* another process removed it, or cannot: left for next time */ }
    }
  }
  return removed.sort()
}

const pending = new Map<string, Promise<string>>()

/**
 * Returns the path of a Pyodide memory snapshot, making it once (in a
 * sandboxed child, ~3 s) if the cache folder does not have it yet.
 *
 * @throws SandboxError `SNAPSHOT_FAILED` when the child cannot make it
 * @throws SandboxError `SNAPSHOT_DIR_UNSAFE` when the folder is not private to this user
 */
export async function ensureSnapshot (dir: string = defaultSnapshotDir()): Promise<string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  checkSnapshotDir(dir)
  const path = join(realpathSync(dir), snapshotFileName())
  if (existsSync(path)) {
    await ensureWasmCache(path)
    return path
  }
  const inFlight = pending.get(path)
  if (inFlight !== undefined) return await inFlight
  const job = (async () => {
    const child = spawnSessionProcess({ makeSnapshotAt: path })
    try {
      for (;;) {
        const msg = await child.next()
        if (msg.t === 'snapshot') continue
        if (msg.t === 'exit') {
          if (msg.code === 0 && existsSync(path)) {
            await ensureWasmCache(path)
            pruneStaleSnapshots(path)
            return path
          }
          throw new SandboxError('SNAPSHOT_FAILED', `Cannot make the Pyodide snapshot: the child exited with ${String(msg.code ?? msg.signal)}: ${msg.stderr.slice(-500)}`)
        }
      }
    } finally {
      child.dispose()
    }
  })()
  pending.set(path, job)
  try {
    return await job
  } finally {
    pending.delete(path)
  }
}
