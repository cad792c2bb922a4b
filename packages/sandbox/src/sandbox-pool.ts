import { SandboxError } from './errors.ts'
import type { Sandbox, SandboxComponents, SandboxInit } from './sandbox.ts'
import { createSandbox, resolveSnapshot, startSession } from './sandbox.ts'
import type { SessionProcess } from './session-process.ts'
import { spawnSessionProcess } from './session-process.ts'

export interface SandboxPoolInit {
  /** Processes kept loaded and waiting (default 2). */
  size?: number
  /** Restore from a Pyodide memory snapshot: `true` (default dir), a cache dir, or `false`. */
  snapshot?: boolean | string
}

export interface SandboxPoolStats {
  idle: number
  spawned: number
  handedOut: number
  /** Acquisitions that found no loaded process and had to wait for or start one. */
  misses: number
}

/**
 * Pre-spawned session processes with Pyodide already loaded. Each process is
 * handed out once and never reused across sessions; the pool refills behind.
 */
export interface SandboxPool {
  /**
   * Hands out a ready session. An `init.scratchDir` cannot be honoured by a
   * pre-spawned process (its permissions are fixed at spawn), so such a
   * request starts a fresh process instead.
   *
   * @throws SandboxError `SANDBOX_CLOSED` after `close()`
   */
  acquire: (components: SandboxComponents, init: SandboxInit) => Promise<Sandbox>
  /** Resolves once `size` processes are loaded and idle. */
  ready: () => Promise<void>
  stats: () => SandboxPoolStats
  close: () => Promise<void>
}

interface Entry {
  proc: SessionProcess
  loaded: Promise<{ ms: number, snapshot: boolean } | undefined>
  isLoaded: boolean
}

class DefaultSandboxPool implements SandboxPool {
  private readonly size: number
  private readonly snapshot: Promise<string | undefined>
  private readonly idle: Entry[] = []
  private closed = false
  private spawned = 0
  private handedOut = 0
  private misses = 0

  constructor (init: SandboxPoolInit) {
    this.size = init.size ?? 2
    if (!Number.isInteger(this.size) || this.size < 0) throw new RangeError(`Invalid pool size ${String(init.size)}: expected a non-negative integer`)
    this.snapshot = resolveSnapshot(init.snapshot)
    this.snapshot.catch(() => undefined)
    for (let i = 0; i < this.size; i++) this.refill()
  }

  private refill (): void {
    if (this.closed) return
    const entry = { loaded: Promise.resolve(undefined), isLoaded: false } as unknown as Entry
    entry.loaded = (async () => {
      const snapshotPath = await this.snapshot
      if (this.closed) return undefined
      entry.proc = spawnSessionProcess({ warm: true, ...(snapshotPath !== undefined ? { snapshotPath } : {}) })
      this.spawned++
      for (;;) {
        const msg = await entry.proc.next()
        if (msg.t === 'loaded') { entry.isLoaded = true; return { ms: msg.ms, snapshot: msg.snapshot } }
        if (msg.t === 'exit') return undefined
      }
    })()
    this.idle.push(entry)
  }

  async acquire (components: SandboxComponents, init: SandboxInit): Promise<Sandbox> {
    if (this.closed) throw new SandboxError('SANDBOX_CLOSED', 'Cannot acquire: the sandbox pool is closed')
    if (init.scratchDir !== undefined) {
      this.misses++
      return await createSandbox(components, { ...init, snapshot: init.snapshot ?? await this.snapshot ?? false })
    }
    for (;;) {
      const index = this.idle.findIndex((e) => e.isLoaded)
      const entry = index >= 0 ? this.idle.splice(index, 1)[0] : this.idle.shift()
      if (index < 0) this.misses++
      if (entry === undefined) {
        this.refill()
        continue
      }
      const loaded = await entry.loaded
      if (loaded === undefined || entry.proc.exited) {
        entry.proc?.dispose()
        this.refill()
        continue
      }
      this.handedOut++
      // Refill only once this session is ready: a Pyodide load takes a
      // core for a second and would slow the hand-out it replaces.
      try {
        return await startSession(components, init, entry.proc, loaded)
      } finally {
        this.refill()
      }
    }
  }

  async ready (): Promise<void> {
    await Promise.all(this.idle.map(async (e) => await e.loaded))
  }

  stats (): SandboxPoolStats {
    return { idle: this.idle.filter((e) => e.isLoaded).length, spawned: this.spawned, handedOut: this.handedOut, misses: this.misses }
  }

  async close (): Promise<void> {
    this.closed = true
    const entries = this.idle.splice(0)
    await Promise.all(entries.map(async (e) => {
      await e.loaded
      e.proc?.dispose()
    }))
  }
}

/**
 * Creates a warm pool of sandbox processes.
 *
 * @example
 * ```ts
 * const pool = createSandboxPool({ size: 2 })
 * await pool.ready()
 * const sandbox = await pool.acquire({ syscalls }, { seed: 1, tick: 0, unitBudget: 1e6, memoryLimitBytes: 512 * 2 ** 20, wallClockMs: 5000 })
 * ```
 */
export function createSandboxPool (init: SandboxPoolInit = {}): SandboxPool {
  return new DefaultSandboxPool(init)
}
