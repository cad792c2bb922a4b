import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, realpathSync, rmSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable, Writable } from 'node:stream'
import { SandboxError } from './errors.ts'
import { describeIsolation } from './isolation.ts'
import { childDir, codeCachePath, hostScript, pyodideDir, wasmCachePath } from './paths.ts'

/** A line the child sent on fd 3, or the synthetic `exit` when the process is gone. */
export type ChildMessage =
  | { t: 'loaded', ms: number, snapshot: boolean, phases?: LoadPhases }
  | { t: 'snapshot', bytes: number, codeCacheBytes?: number, ms: number }
  | { t: 'wasm_cache', bytes: number, tieredUp: number, ms: number }
  | { t: 'ready' }
  | { t: 'out', s: 'stdout' | 'stderr', b: string }
  | { t: 'output_limit', limit: number }
  | { t: 'violation', kind: string, detail: string }
  | { t: 'stop', reason: string, units: number }
  | { t: 'call', id: number, capability: string, args: unknown }
  | { t: 'done', id: number, status: string, units: number, error?: { code: string, message: string, pythonType?: string }, fatal?: boolean }
  | { t: 'exit', code: number | null, signal: string | null, killReason: string | undefined, stderr: string }

/**
 * How the child loaded, reported with `loaded`: times are ms since the
 * child's start-up code began (after Node's own start and the static imports).
 * `codeCache` says how Pyodide's JS was compiled: `accepted` (from the V8
 * code cache beside the snapshot), `rejected` (V8 refused the cache, e.g.
 * other flags or source), `corrupt` (its checksum did not match; not given
 * to V8), `missing`/`none` (no cache), `module` (imported as an ES module:
 * the file did not have the expected shape).
 */
export interface LoadPhases {
  codeCache?: 'accepted' | 'rejected' | 'corrupt' | 'missing' | 'none' | 'module'
  /**
   * How the WASM module was made (child/wasm-code-cache.mjs): `accepted`
   * (deserialized, with machine code, from the cache beside the snapshot),
   * `rejected` (V8 refused it), `corrupt` (its checksum did not match),
   * `stale` (made from another pyodide.asm.wasm), `missing`/`none` (no
   * cache): all but `accepted` compile the module.
   */
  wasmCache?: 'accepted' | 'rejected' | 'corrupt' | 'stale' | 'missing' | 'none'
  /** Pyodide's JS loaded. */
  import?: number
  /** The WASM module compiled (in the background since start-up) or deserialized (`wasmCache`), and awaited. */
  compiled?: number
  /** WebAssembly.instantiate done. */
  instantiated?: number
  /** Emscripten's dynamic linking and runtime set-up done; the heap image is read. */
  restore?: number
  /** loadPyodide done (the snapshot restored, Pyodide's bootstrap run). */
  load?: number
  /**
   * How Emscripten linked the main module (child/emscripten-link.mjs):
   * `replayed` (from the layout recorded with the code cache), `mismatch`
   * (a record that does not describe this module: linked as before),
   * `recorded` (the snapshot maker), `none` (no record, or Pyodide's JS
   * without the linking patches).
   */
  link?: 'replayed' | 'mismatch' | 'recorded' | 'none'
  /** SHA-256 of the linked function table and GOT (only with `SpawnOptions.linkDigest`, for tests). */
  linkDigest?: string
}

export interface SpawnOptions {
  /** Host folder mounted at /session (read-write); a fresh temp dir when absent. */
  scratchDir?: string
  /** Snapshot to restore from; absent = plain loadPyodide. */
  snapshotPath?: string
  /** Pre-compile the paths a first run needs (pooled processes have time to spare). */
  warm?: boolean
  /** Internal: make a snapshot at this path and exit. */
  makeSnapshotAt?: string
  /** Internal: restore `snapshotPath`, set up and run what the parent sends, then write the WASM cache here on `save_wasm_cache` and exit. */
  makeWasmCacheAt?: string
  /** Internal, with `makeWasmCacheAt`: compile every function that runs with TurboFan (else only the exported ones, at the end). */
  optimizeAll?: boolean
  /** Internal, for tests: report `phases.linkDigest`. */
  linkDigest?: boolean
}

/** One child OS process running the Pyodide host. */
export interface SessionProcess {
  readonly pid: number
  readonly scratchDir: string
  readonly exited: boolean
  send: (msg: Record<string, unknown>) => void
  /** The next message, in order; resolves with `exit` once the process is gone. */
  next: () => Promise<ChildMessage>
  /** SIGKILL, remembering why (reported in the `exit` message). */
  kill: (reason: string) => void
  /** Resident set size in bytes, from /proc; undefined when unknown. */
  rss: () => Promise<number | undefined>
  /** Kills the process if alive and removes the scratch dir it created. */
  dispose: () => void
}

class ChildSession implements SessionProcess {
  readonly pid: number
  readonly scratchDir: string
  private readonly proc: ChildProcess
  private readonly ownsScratch: boolean
  private readonly queue: ChildMessage[] = []
  private readonly waiters: Array<(m: ChildMessage) => void> = []
  private buffer = ''
  private stderrTail = ''
  private killReason: string | undefined
  private gone = false

  constructor (proc: ChildProcess, scratchDir: string, ownsScratch: boolean) {
    this.proc = proc
    this.scratchDir = scratchDir
    this.ownsScratch = ownsScratch
    if (proc.pid === undefined) throw new SandboxError('SANDBOX_START_FAILED', 'Cannot start the sandbox process: no pid')
    this.pid = proc.pid
    const fromChild = proc.stdio[3] as Readable
    fromChild.setEncoding('utf8')
    fromChild.on('data', (chunk: string) => { this.onData(chunk) })
    proc.stderr?.setEncoding('utf8')
    proc.stderr?.on('data', (chunk: string) => { this.stderrTail = (this.stderrTail + chunk).slice(-4000) })
    ;(proc.stdio[4] as Writable).on('error', () => { /* the child is gone; exit reports it */ })
    proc.on('close', (code, signal) => {
      this.gone = true
      if (this.buffer.trim() !== '') this.onData('\n')
      this.push({ t: 'exit', code, signal, killReason: this.killReason, stderr: this.stderrTail })
    })
    proc.on('error', (err) => { this.stderrTail += `\n${err.message}` })
  }

  get exited (): boolean { return this.gone }

  private onData (chunk: string): void {
    this.buffer += chunk
    let nl = this.buffer.indexOf('\n')
    while (nl >= 0) {
      const line = this.buffer.slice(0, nl)
      this.buffer = this.buffer.slice(nl + 1)
      if (line.trim() !== '') {
        try {
          this.push(JSON.parse(line) as ChildMessage)
        } catch {
          this.push({ t: 'violation', kind: 'protocol', detail: `Unparsable message from the sandbox: ${line.slice(0, 200)}` })
        }
      }
      nl = this.buffer.indexOf('\n')
    }
  }

  private push (msg: ChildMessage): void {
    const waiter = this.waiters.shift()
    if (waiter !== undefined) waiter(msg)
    else this.queue.push(msg)
  }

  send (msg: Record<string, unknown>): void {
    if (this.gone) throw new SandboxError('SANDBOX_CLOSED', 'Cannot send to the sandbox: its process has exited')
    ;(this.proc.stdio[4] as Writable).write(JSON.stringify(msg) + '\n')
  }

  next (): Promise<ChildMessage> {
    const msg = this.queue.shift()
    if (msg !== undefined) return Promise.resolve(msg)
    return new Promise((resolve) => { this.waiters.push(resolve) })
  }

  kill (reason: string): void {
    if (this.gone) return
    this.killReason ??= reason
    this.proc.kill('SIGKILL')
  }

  async rss (): Promise<number | undefined> {
    try {
      const status = await readFile(`/proc/${this.pid}/status`, 'utf8')
      const m = /VmRSS:\s+(\d+) kB/.exec(status)
      return m?.[1] === undefined ? undefined : Number(m[1]) * 1024
    } catch {
      return undefined
    }
  }

  dispose (): void {
    this.kill('disposed')
    if (this.ownsScratch) {
      try { rmSync(this.scratchDir, { recursive: true, force: true }) } catch { /* best effort */ }
    }
  }
}

/**
 * V8 flags a child starts with (part of the snapshot's key: V8 accepts a
 * code cache only in a process with the same flags).
 *
 * None where the parent polls the child's resident size (/proc): any V8
 * flag on the command line makes V8 refuse Node's own code cache for its
 * built-in modules, which then compile from source (~35 ms more per start,
 * measured), and the RSS poll caps the JS heap along with WASM memory.
 * Without /proc, the JS-heap cap is the only memory limit there is.
 */
export function childV8Flags (): readonly string[] {
  return describeIsolation().memoryLimit === 'rss-poll' ? [] : ['--max-old-space-size=256']
}

/**
 * Starts one sandbox child: Node's permission model (read: Pyodide, the
 * child folder, the snapshot, the scratch dir; write: the scratch dir only;
 * no child processes, no workers), an empty environment, and a fresh network
 * namespace when the machine has one.
 */
export function spawnSessionProcess (opts: SpawnOptions = {}): SessionProcess {
  const ownsScratch = opts.scratchDir === undefined
  const scratchDir = realpathSync(opts.scratchDir ?? mkdtempSync(join(tmpdir(), 'os2-sbx-')))
  const reads = [pyodideDir(), childDir(), scratchDir]
  const writes = [scratchDir]
  // The V8 code cache for Pyodide's JS lives beside the snapshot; the child
  // may read that one file (and only when it exists).
  let codeCache: string | undefined
  let wasmCache: string | undefined
  if (opts.snapshotPath !== undefined) {
    reads.push(opts.snapshotPath)
    const cache = codeCachePath(opts.snapshotPath)
    if (opts.makeSnapshotAt === undefined && existsSync(cache)) {
      reads.push(cache)
      codeCache = cache
    }
    const compiled = wasmCachePath(opts.snapshotPath)
    if (opts.makeSnapshotAt === undefined && opts.makeWasmCacheAt === undefined && existsSync(compiled)) {
      reads.push(compiled)
      wasmCache = compiled
    }
  }
  if (opts.makeWasmCacheAt !== undefined) {
    const dir = join(opts.makeWasmCacheAt, '..')
    reads.push(dir)
    writes.push(dir)
  }
  if (opts.makeSnapshotAt !== undefined) {
    const dir = join(opts.makeSnapshotAt, '..')
    reads.push(dir)
    writes.push(dir)
    codeCache = codeCachePath(opts.makeSnapshotAt)
  }
  const nodeArgs = [
    '--experimental-permission',
    ...reads.map((p) => `--allow-fs-read=${p}`),
    ...writes.map((p) => `--allow-fs-write=${p}`),
    ...childV8Flags(),
    '--disable-warning=ExperimentalWarning',
    hostScript(),
    JSON.stringify({
      pyodideDir: pyodideDir(),
      ...(opts.snapshotPath !== undefined ? { snapshotPath: opts.snapshotPath } : {}),
      ...(opts.warm === true ? { warm: true } : {}),
      ...(opts.linkDigest === true ? { linkDigest: true } : {}),
      ...(opts.makeSnapshotAt !== undefined ? { mode: 'make-snapshot', snapshotPath: opts.makeSnapshotAt } : {}),
      ...(codeCache !== undefined ? { codeCachePath: codeCache } : {}),
      ...(wasmCache !== undefined ? { wasmCachePath: wasmCache } : {}),
      ...(opts.makeWasmCacheAt !== undefined ? { mode: 'make-wasm-cache', wasmCachePath: opts.makeWasmCacheAt, optimizeAll: opts.optimizeAll === true } : {})
    })
  ]
  const launcher = describeIsolation().networkNamespace.launcher
  const [cmd, ...args] = launcher !== null ? [...launcher, process.execPath, ...nodeArgs] : [process.execPath, ...nodeArgs]
  const proc = spawn(cmd ?? process.execPath, args, {
    env: {},
    cwd: scratchDir,
    stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe']
  })
  return new ChildSession(proc, scratchDir, ownsScratch)
}
