import { SandboxError } from './errors.ts'
import { describeIsolation } from './isolation.ts'
import type { IsolationReport } from './isolation.ts'
import type { ChildMessage, SessionProcess } from './session-process.ts'
import { spawnSessionProcess } from './session-process.ts'
import { defaultSnapshotDir, ensureSnapshot } from './snapshot-cache.ts'
import type { OutputStream, RunError, RunOptions, RunResult, RunStatus, SyscallHandler, SyscallResult, Violation } from './types.ts'

export interface SandboxComponents {
  /** The kernel side of the syscall bridge. */
  syscalls: SyscallHandler
}

export interface SandboxInit {
  /** Seeds `random`, `os.urandom`, `uuid4`, `secrets` and the WASM entropy source. */
  seed: string | number | bigint
  /** Virtual clock start, in ms after `epochMs`; `time.time()` starts here. */
  tick: number | bigint
  /** Metered units (ticks at function entry, loop iterations and comprehension clauses) one run may use. */
  unitBudget: number
  /**
   * Resident set size cap of the whole session process; past it the process
   * is killed. A session with Pyodide loaded already holds ~200 MiB, so the
   * useful range starts around 256 MiB.
   */
  memoryLimitBytes: number
  /** Per-run wall-clock cap; past it the process is killed. */
  wallClockMs: number
  /** Host folder mounted read-write at /session; a fresh temp dir (removed on close) when absent. */
  scratchDir?: string
  /** Cap on stdout + stderr bytes per run (default 1 MiB). */
  outputLimitBytes?: number
  /** Unix ms that tick 0 maps to (default 2026-01-01T00:00:00Z). */
  epochMs?: number
  /** Restore from a Pyodide memory snapshot: `true` (default dir), a cache dir, or `false`. */
  snapshot?: boolean | string
  /** How long a run may keep going after a stop was raised before the process is killed (default 2000 ms). */
  stopGraceMs?: number
  /** Max time to load Pyodide and set the session up (default 60 s). */
  startTimeoutMs?: number
  /** Pure-Python wheels (already hash-checked by the caller) unpacked into site-packages before the first run. */
  wheels?: Array<{ name: string, bytes: Uint8Array }>
  /**
   * Tests only: skip the in-process hardening (Python import blocks, audit
   * hook, Node API patches) to show what the process boundary alone stops.
   */
  UNSAFE_skipInProcessHardening?: boolean
}

export interface SandboxStartup {
  /** ms Pyodide took to load inside the child. */
  loadMs: number
  snapshot: boolean
  /** ms from spawn (or pool hand-out) to ready. */
  readyMs: number
}

/** One Python session: one isolated OS process, runs executed one at a time. */
export interface Sandbox {
  readonly pid: number
  readonly isolation: IsolationReport
  readonly startup: SandboxStartup
  /** False once the process has exited (killed, crashed or closed). */
  readonly alive: boolean
  /**
   * Runs a script in the session (globals persist between runs).
   *
   * @throws SandboxError `SANDBOX_CLOSED` when the session process has exited
   */
  run: (code: string, opts?: RunOptions) => Promise<RunResult>
  close: () => Promise<void>
}

const DEFAULT_EPOCH_MS = 1_767_225_600_000
const DEFAULT_OUTPUT_LIMIT = 1 << 20
const MEMORY_POLL_MS = 20

function validate (init: SandboxInit): void {
  if (!Number.isSafeInteger(init.unitBudget) || init.unitBudget < 0) throw new RangeError(`Invalid unitBudget ${init.unitBudget}: expected a non-negative safe integer`)
  if (!(init.memoryLimitBytes > 0)) throw new RangeError(`Invalid memoryLimitBytes ${init.memoryLimitBytes}: expected a positive number`)
  if (!(init.wallClockMs > 0)) throw new RangeError(`Invalid wallClockMs ${init.wallClockMs}: expected a positive number`)
}

function decodeChunk (b64: string): Buffer {
  return Buffer.from(b64, 'base64')
}

class SandboxSession implements Sandbox {
  readonly isolation: IsolationReport
  startup: SandboxStartup = { loadMs: 0, snapshot: false, readyMs: 0 }
  private readonly proc: SessionProcess
  private readonly components: SandboxComponents
  private readonly init: SandboxInit
  private chain: Promise<unknown> = Promise.resolve()
  private closed = false
  private running = false
  private runs = 0

  constructor (components: SandboxComponents, init: SandboxInit, proc: SessionProcess) {
    this.components = components
    this.init = init
    this.proc = proc
    this.isolation = describeIsolation()
  }

  get pid (): number { return this.proc.pid }
  get alive (): boolean { return !this.closed && !this.proc.exited }

  /**
   * Sends `init` and waits for `ready` (and, for a process that is still
   * loading, for `loaded` before it). `init` goes first: the child reads it
   * as soon as Pyodide is loaded, without waiting for a turn of this
   * process's event loop.
   */
  async start (loaded: { ms: number, snapshot: boolean } | undefined, t0: number): Promise<void> {
    const timeout = setTimeout(() => { this.proc.kill('start timeout') }, this.init.startTimeoutMs ?? 60_000)
    const poll = this.watchMemory()
    try {
      const epochNs = (BigInt(this.init.epochMs ?? DEFAULT_EPOCH_MS) + BigInt(this.init.tick)) * 1_000_000n
      this.proc.send({
        t: 'init',
        seed: String(this.init.seed),
        epochNs: epochNs.toString(),
        outputLimitBytes: this.init.outputLimitBytes ?? DEFAULT_OUTPUT_LIMIT,
        scratchDir: this.proc.scratchDir,
        hardening: this.init.UNSAFE_skipInProcessHardening !== true,
        wheels: (this.init.wheels ?? []).map((w) => ({ name: w.name, b64: Buffer.from(w.bytes).toString('base64') }))
      })
      let info = loaded
      while (info === undefined) {
        const msg = await this.proc.next()
        if (msg.t === 'loaded') info = { ms: msg.ms, snapshot: msg.snapshot }
        else if (msg.t === 'exit') throw this.startFailure(msg)
      }
      for (;;) {
        const msg = await this.proc.next()
        if (msg.t === 'ready') break
        if (msg.t === 'exit') throw this.startFailure(msg)
      }
      this.startup = { loadMs: info.ms, snapshot: info.snapshot, readyMs: performance.now() - t0 }
    } catch (err) {
      this.proc.dispose()
      throw err
    } finally {
      clearTimeout(timeout)
      clearInterval(poll)
    }
  }

  private startFailure (msg: Extract<ChildMessage, { t: 'exit' }>): SandboxError {
    return new SandboxError('SANDBOX_START_FAILED', `Cannot start the sandbox: the process exited (${String(msg.killReason ?? msg.code ?? msg.signal)}): ${msg.stderr.slice(-800)}`)
  }

  private watchMemory (): ReturnType<typeof setInterval> {
    const limit = this.init.memoryLimitBytes
    const timer = setInterval(() => {
      void this.proc.rss().then((rss) => {
        if (rss !== undefined && rss > limit) this.proc.kill('memory')
      })
    }, MEMORY_POLL_MS)
    timer.unref()
    return timer
  }

  run (code: string, opts: RunOptions = {}): Promise<RunResult> {
    const next = this.chain.then(async () => await this.runNow(code, opts))
    this.chain = next.catch(() => undefined)
    return next
  }

  private async runNow (code: string, opts: RunOptions): Promise<RunResult> {
    if (!this.alive) throw new SandboxError('SANDBOX_CLOSED', 'Cannot run: the sandbox session is closed or its process has exited')
    const budget = opts.unitBudget ?? this.init.unitBudget
    if (!Number.isSafeInteger(budget) || budget < 0) throw new RangeError(`Invalid unitBudget ${budget}: expected a non-negative safe integer`)
    const t0 = performance.now()
    const out: Record<OutputStream, Buffer[]> = { stdout: [], stderr: [] }
    const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() }
    const violations: Violation[] = []
    let outputTruncated = false
    let stopUnits: number | undefined
    let stopReason: string | undefined
    let grace: ReturnType<typeof setTimeout> | undefined
    const armGrace = (): void => {
      grace ??= setTimeout(() => { this.proc.kill('stop ignored') }, this.init.stopGraceMs ?? 2000)
    }
    const wall = setTimeout(() => { this.proc.kill('wall') }, this.init.wallClockMs)
    const poll = this.watchMemory()
    const runId = ++this.runs
    const emitOutput = (stream: OutputStream, text: string): void => {
      // A throwing listener must not leave the child half-way through a run.
      try { opts.onOutput?.(stream, text) } catch { /* the caller's problem */ }
    }
    this.running = true
    const finish = (status: RunStatus, units: number, error: RunError | undefined): RunResult => {
      let finalStatus = status
      let finalError = error
      if (violations.length > 0 && (status === 'ok' || status === 'error')) {
        finalStatus = 'violation'
        const first = violations[0]
        finalError ??= { code: 'SANDBOX_VIOLATION', message: `Sandbox violation: ${first?.kind ?? ''} ${first?.detail ?? ''}`.trim() }
      }
      for (const s of ['stdout', 'stderr'] as const) {
        const tail = decoders[s].decode()
        if (tail !== '') emitOutput(s, tail)
      }
      return {
        status: finalStatus,
        units,
        stdout: Buffer.concat(out.stdout).toString('utf8'),
        stderr: Buffer.concat(out.stderr).toString('utf8'),
        ...(finalError !== undefined ? { error: finalError } : {}),
        violations,
        outputTruncated,
        wallMs: performance.now() - t0
      }
    }
    try {
      this.proc.send({ t: 'run', id: runId, code, argv: opts.argv ?? [], unitBudget: budget })
      for (;;) {
        const msg = await this.proc.next()
        switch (msg.t) {
          case 'out': {
            const bytes = decodeChunk(msg.b)
            out[msg.s].push(bytes)
            const text = decoders[msg.s].decode(bytes, { stream: true })
            if (text !== '') emitOutput(msg.s, text)
            break
          }
          case 'violation':
            violations.push({ kind: msg.kind, detail: msg.detail })
            break
          case 'output_limit':
            outputTruncated = true
            stopReason ??= 'output'
            armGrace()
            break
          case 'stop':
            stopReason ??= msg.reason
            stopUnits ??= msg.units
            armGrace()
            break
          case 'call': {
            const reply = await this.callHandler(msg.capability, msg.args)
            if (!this.proc.exited) this.proc.send({ t: 'reply', id: msg.id, ...reply })
            break
          }
          case 'done': {
            if (msg.fatal === true) this.proc.kill('fatal')
            return finish(msg.status as RunStatus, msg.units, msg.error)
          }
          case 'exit':
            return finish(...this.exitOutcome(msg, stopReason, stopUnits))
          default:
            break
        }
      }
    } finally {
      this.running = false
      clearTimeout(wall)
      clearInterval(poll)
      if (grace !== undefined) clearTimeout(grace)
    }
  }

  private exitOutcome (msg: Extract<ChildMessage, { t: 'exit' }>, stopReason: string | undefined, stopUnits: number | undefined): [RunStatus, number, RunError] {
    switch (msg.killReason) {
      case 'wall':
        return ['killed', 0, { code: 'WALL_CLOCK_EXCEEDED', message: `Wall-clock limit of ${this.init.wallClockMs} ms exceeded: the session process was killed` }]
      case 'closed':
        return ['killed', 0, { code: 'SANDBOX_CLOSED', message: 'The session was closed during the run' }]
      case 'memory':
        return ['killed', 0, { code: 'MEMORY_LIMIT_EXCEEDED', message: `Memory limit of ${this.init.memoryLimitBytes} bytes exceeded: the session process was killed` }]
      case 'stop ignored':
        if (stopReason === 'output') return ['budget_exceeded', stopUnits ?? 0, { code: 'OUTPUT_LIMIT_EXCEEDED', message: 'Output limit exceeded: the session process was killed' }]
        return ['budget_exceeded', stopUnits ?? 0, { code: 'BUDGET_EXCEEDED', message: `Unit budget of ${String(stopUnits ?? 0)} exhausted: the session process was killed` }]
      default:
        return ['killed', 0, { code: 'SANDBOX_CRASHED', message: `The session process exited unexpectedly (${String(msg.killReason ?? msg.code ?? msg.signal)}): ${msg.stderr.slice(-500)}` }]
    }
  }

  private async callHandler (capability: string, args: unknown): Promise<SyscallResult> {
    try {
      const result = await this.components.syscalls({ capability, args })
      // Make sure whatever the handler returns can cross the pipe.
      JSON.stringify(result)
      return result
    } catch (err) {
      return { ok: false, error: { code: 'HANDLER_FAILED', message: `The syscall handler failed: ${err instanceof Error ? err.message : String(err)}` } }
    }
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    // A run in flight is ended now rather than waited for.
    if (this.running) this.proc.kill('closed')
    await this.chain.catch(() => undefined)
    if (!this.proc.exited) {
      try { this.proc.send({ t: 'close' }) } catch { /* already gone */ }
      const exited = new Promise<void>((resolve) => {
        const wait = (): void => { void this.proc.next().then((m) => { if (m.t === 'exit') resolve(); else wait() }) }
        wait()
      })
      const timer = setTimeout(() => { this.proc.kill('close') }, 1000)
      await exited
      clearTimeout(timer)
    }
    this.proc.dispose()
  }
}

/** Internal: starts a session on a process that may come from the pool. */
export async function startSession (components: SandboxComponents, init: SandboxInit, proc: SessionProcess, loaded?: { ms: number, snapshot: boolean }): Promise<Sandbox> {
  const t0 = performance.now()
  const session = new SandboxSession(components, init, proc)
  await session.start(loaded, t0)
  return session
}

/** Resolves the snapshot path for `init.snapshot` (undefined = no snapshot). */
export async function resolveSnapshot (snapshot: boolean | string | undefined): Promise<string | undefined> {
  if (snapshot === false) return undefined
  return await ensureSnapshot(typeof snapshot === 'string' ? snapshot : defaultSnapshotDir())
}

/**
 * Starts a Python session in its own isolated OS process.
 *
 * @param components - `syscalls`: the kernel side of the `os2` bridge
 * @param init - seed, virtual clock tick, unit budget, memory and wall-clock limits
 * @returns a ready session (Pyodide loaded, determinism shims and hardening applied)
 * @throws SandboxError `SANDBOX_START_FAILED` when the process cannot load Pyodide
 * @example
 * ```ts
 * const sandbox = await createSandbox({ syscalls: async () => ({ ok: false, error: { code: 'CAPABILITY_DENIED', message: 'none' } }) },
 *   { seed: 1, tick: 0, unitBudget: 1_000_000, memoryLimitBytes: 512 * 2 ** 20, wallClockMs: 10_000 })
 * const result = await sandbox.run('print(6 * 7)')
 * await sandbox.close()
 * ```
 */
export async function createSandbox (components: SandboxComponents, init: SandboxInit): Promise<Sandbox> {
  validate(init)
  const t0 = performance.now()
  const snapshotPath = await resolveSnapshot(init.snapshot)
  const proc = spawnSessionProcess({
    ...(init.scratchDir !== undefined ? { scratchDir: init.scratchDir } : {}),
    ...(snapshotPath !== undefined ? { snapshotPath } : {})
  })
  const session = new SandboxSession(components, init, proc)
  await session.start(undefined, t0)
  return session
}
