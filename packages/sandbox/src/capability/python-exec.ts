import { z } from 'zod'
import type { CanonicalValue } from '@os2/crypto'
import { defineCapability, isKernelError, KernelError } from '@os2/kernel'
import type { BudgetKind, CapabilityContext, CapabilityDescriptor } from '@os2/kernel'
import type { SyscallResult } from '../types.ts'
import { fetchHost, httpFetch, parseFetchUrl } from './http-fetch.ts'
import type { LiveSource, PythonMessage } from './live-run.ts'

const Namespace = z.string().min(1).max(128).regex(/^[A-Za-z0-9._:@-]+$/)

export const PythonExecArgs = z.strictObject({
  /** The script (a module body). */
  code: z.string().max(200_000),
  /** `sys.argv[1:]`. */
  argv: z.array(z.string().max(4096)).max(256).optional(),
  /** Keep the interpreter for later tokens with the same session id (globals persist; live only). */
  session: z.string().min(1).max(128).optional(),
  /** Namespace `os2.state` reads and writes (default `python`). */
  namespace: Namespace.optional(),
  /** Wall-clock limit of the run in ms (default 60 s; also capped by the token's wallClockMs budget). */
  wallClockMs: z.number().int().min(1).max(3_600_000).optional(),
  /** Memory limit of the session process in bytes (default 1 GiB). */
  memoryLimitBytes: z.number().int().min(64 * 2 ** 20).max(16 * 2 ** 30).optional()
})
export type PythonExecArgs = z.infer<typeof PythonExecArgs>

/** State namespaces where pip.install and module.mount record what is installed. */
export const PIP_NAMESPACE = 'os2.pip'
export const MODULES_NAMESPACE = 'os2.modules'

/** Largest output text in one `python.stdout` / `python.stderr` event. */
const OUTPUT_EVENT_CHARS = 8192
const MAX_VIOLATION_EVENTS = 16

/** What a live run needs from the runtime (sandbox processes, WASM sidecars, the terminal). */
export interface PythonHost {
  /**
   * Starts a live run. Called only when the kernel really runs the token
   * (never on replay): returns the run, or the outcome when it cannot start.
   */
  start: (req: LiveStart) => Promise<{ live: LiveSource, release: () => Promise<void>, callModule: ModuleCaller } | { done: PythonMessage }>
}

export type ModuleCaller = (module: string, exportName: string, args: number[]) => Promise<CanonicalValue>

export interface LiveStart {
  code: string
  argv: string[]
  session: string | undefined
  seed: number
  tick: number
  unitBudget: number
  wallClockMs: number
  memoryLimitBytes: number
  wheels: InstalledWheel[]
  modules: MountedModule[]
}

export interface InstalledWheel { name: string, version: string, sha256: string, filename: string }
export interface MountedModule { name: string, sha256: string, exports: string[] }

type Metered = Record<BudgetKind, number>

/** What is left of a budget kind: the running token's own meter when the context exposes it, else the token's budget. */
export function remainingBudget (ctx: CapabilityContext, kind: BudgetKind, fallback: number): number {
  const run = ctx as unknown as { budget?: Metered, used?: Metered }
  if (run.budget !== undefined && run.used !== undefined) return Math.max(0, run.budget[kind] - run.used[kind])
  return ctx.token.budget[kind] ?? fallback
}

function isRecord (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Installed records of a state namespace, or none when the grant does not cover it. */
function installed<T> (ctx: CapabilityContext, namespace: string): T[] {
  try {
    ctx.checkScope({ namespaces: [namespace] })
  } catch {
    return []
  }
  return ctx.list(namespace).map(e => e.value as unknown as T)
}

export function sandboxViolation (detail: string, reason = 'sandbox_escape'): KernelError {
  return new KernelError('CAPABILITY_DENIED', `Capability violation (${reason}): ${detail}`, { details: { violation: reason, detail } })
}

function pythonFailure (code: string, message: string, extra: Record<string, unknown> = {}): KernelError {
  return new KernelError('HANDLER_FAILED', `${code}: ${message}`, { details: { python: { code, ...extra } } })
}

/**
 * The `python.exec` capability. The running script is an external event
 * source: each `python.next` external result is a batch of its messages
 * (output, one syscall request, or the outcome). Live, the batch comes from
 * the sandbox and is recorded; on replay the kernel serves the recorded
 * batch and Python never runs. Every batch is then applied the same way in
 * both modes: output → `python.stdout` / `python.stderr` events, syscalls →
 * grant-checked kernel operations, units → `tokens`.
 */
/** Limits a run gets when its arguments leave them out. Constants, not configuration: replay must derive the same events. */
export const PYTHON_DEFAULTS = { wallClockMs: 60_000, memoryLimitBytes: 2 ** 30 } as const

export function createPythonExecCapability (host: PythonHost): CapabilityDescriptor<PythonExecArgs> {
  return defineCapability({
    id: 'python.exec',
    version: 1,
    description: 'Runs a Python script in an isolated Pyodide process; os2.* calls go through the kernel',
    args: PythonExecArgs,
    limits: { ceiling: 10_000_000, cost: 10 },
    handler: async (args, ctx) => {
      const seed = ctx.random()
      const tick = ctx.tick
      const namespace = args.namespace ?? 'python'
      const wheels = installed<InstalledWheel>(ctx, PIP_NAMESPACE)
      const modules = installed<MountedModule>(ctx, MODULES_NAMESPACE)
      const moduleNames = new Set(modules.map(m => m.name))
      const start: LiveStart = {
        code: args.code,
        argv: args.argv ?? [],
        session: args.session,
        seed,
        tick,
        unitBudget: remainingBudget(ctx, 'tokens', 1_000_000),
        wallClockMs: Math.max(1, Math.min(args.wallClockMs ?? PYTHON_DEFAULTS.wallClockMs, remainingBudget(ctx, 'wallClockMs', PYTHON_DEFAULTS.wallClockMs))),
        memoryLimitBytes: args.memoryLimitBytes ?? PYTHON_DEFAULTS.memoryLimitBytes,
        wheels,
        modules
      }
      let live: { live: LiveSource, release: () => Promise<void>, callModule: ModuleCaller } | undefined
      let reply: SyscallResult | undefined
      const denials: KernelError[] = []

      const applyCall = async (capability: string, raw: unknown): Promise<SyscallResult> => {
        const a = isRecord(raw) ? raw : {}
        const ns = typeof a.namespace === 'string' ? a.namespace : namespace
        const key = String(a.key ?? '')
        try {
          if (capability.startsWith('kernel.state.') && ns.startsWith('os2.')) {
            throw sandboxViolation(`namespace ${ns} is reserved for the kernel's own records`, 'out_of_scope')
          }
          switch (capability) {
            case 'kernel.state.get': return { ok: true, value: ctx.get(ns, key) ?? null }
            case 'kernel.state.put': ctx.put(ns, key, (a.value ?? null) as CanonicalValue); return { ok: true, value: null }
            case 'kernel.state.delete': return { ok: true, value: ctx.delete(ns, key) }
            case 'kernel.state.list': return { ok: true, value: ctx.list(ns, typeof a.prefix === 'string' ? { prefix: a.prefix } : {}).map(e => e.key) }
            case 'kernel.emit': {
              const name = String(a.type ?? a.name ?? 'python')
              // The kernel's own event names cannot be forged from a script.
              if (/^(python|pip|module)\./.test(name)) return { ok: false, error: { code: 'INVALID_ARGUMENT', message: `Event name ${name} is reserved for the kernel` } }
              ctx.emit(name, (a.payload ?? a.data ?? null) as CanonicalValue)
              return { ok: true, value: null }
            }
            case 'net.fetch': {
              const url = parseFetchUrl(String(a.url))
              const host = fetchHost(url)
              ctx.checkScope({ hosts: [host] })
              const headers: Record<string, string> = {}
              if (isRecord(a.headers)) for (const [k, v] of Object.entries(a.headers)) headers[k] = String(v)
              const body = typeof a.body === 'string' ? a.body : null
              const method = typeof a.method === 'string' ? a.method.toUpperCase() : 'GET'
              const value = await ctx.external('net.fetch', async () => await httpFetch(url, { method, headers, body }), { host })
              return { ok: true, value }
            }
            case 'module.call': {
              ctx.charge('tokens', 1)
              const name = String(a.module)
              if (!moduleNames.has(name)) return { ok: false, error: { code: 'UNKNOWN_MODULE', message: `No WASM module is mounted as ${name}: mount one with os2 module mount <file.wasm> --as ${name}` } }
              // On replay the reply is never seen (Python does not run), and a
              // module call leaves nothing else in the ledger.
              if (live === undefined) return { ok: true, value: null }
              const ints = Array.isArray(a.args) ? a.args.map(Number) : []
              return { ok: true, value: await live.callModule(name, String(a.export), ints) }
            }
            case 'python.exec': {
              // A script cannot start another interpreter inside its own run.
              const err = sandboxViolation('python may not call python.exec from a script', 'syscall_denied')
              denials.push(err)
              return { ok: false, error: { code: 'CAPABILITY_DENIED', message: err.message } }
            }
            default:
              // Any other capability (memory.*, …) is invoked as the token's
              // principal, checked exactly as a top-level invocation; its
              // external results are recorded in this token, so replay never
              // re-applies them.
              return { ok: true, value: await ctx.invoke(capability, raw ?? {}) }
          }
        } catch (err) {
          if (isKernelError(err)) {
            if (err.code === 'BUDGET_EXCEEDED' || err.code === 'TOKEN_CANCELLED') throw err
            if (typeof err.details?.violation === 'string') denials.push(err)
            return { ok: false, error: { code: err.code, message: err.message } }
          }
          return { ok: false, error: { code: (err as { code?: string }).code ?? 'INVALID_ARGUMENT', message: err instanceof Error ? err.message : String(err) } }
        }
      }

      const emitOutput = (stream: string, text: string): void => {
        for (let i = 0; i < text.length; i += OUTPUT_EVENT_CHARS) {
          ctx.emit(`python.${stream}`, { text: text.slice(i, i + OUTPUT_EVENT_CHARS) })
        }
      }

      const finish = (done: Extract<PythonMessage, { t: 'done' }>): CanonicalValue => {
        const error = done.error ?? null
        ctx.emit('python.exit', { status: done.status, units: done.units, error: error as unknown as CanonicalValue, violations: done.violations.length, output_truncated: done.outputTruncated })
        for (const v of done.violations.slice(0, MAX_VIOLATION_EVENTS)) ctx.emit('python.violation', { kind: v.kind, detail: v.detail })
        const first = done.violations[0]
        if (first !== undefined) throw sandboxViolation(`${first.kind}: ${first.detail}`)
        const denied = denials[0]
        if (denied !== undefined) throw denied
        ctx.charge('tokens', done.units)
        switch (done.status) {
          case 'ok': return { status: 'ok', units: done.units }
          case 'budget_exceeded':
            if (error?.code === 'OUTPUT_LIMIT_EXCEEDED') throw pythonFailure(error.code, error.message)
            throw new KernelError('BUDGET_EXCEEDED', `Token budget exceeded: Python used its ${start.unitBudget} units`, { details: { kind: 'tokens', limit: start.unitBudget, used: done.units } })
          case 'killed':
            if (error?.code === 'WALL_CLOCK_EXCEEDED') throw new KernelError('BUDGET_EXCEEDED', `Token budget exceeded: ${error.message}`, { details: { kind: 'wallClockMs', limit: start.wallClockMs, used: start.wallClockMs } })
            if (error?.code === 'MEMORY_LIMIT_EXCEEDED') throw new KernelError('BUDGET_EXCEEDED', `Token budget exceeded: ${error.message}`, { details: { kind: 'memory', limit: start.memoryLimitBytes, used: start.memoryLimitBytes } })
            throw pythonFailure(error?.code ?? 'SANDBOX_CRASHED', error?.message ?? 'The sandbox process died')
          default:
            throw pythonFailure(error?.code ?? 'PYTHON_EXCEPTION', error?.message ?? `Python run ended ${done.status}`, error?.pythonType !== undefined ? { pythonType: error.pythonType } : {})
        }
      }

      try {
        for (;;) {
          const batch = await ctx.external('python.next', async () => {
            if (live === undefined) {
              const started = await host.start(start)
              if ('done' in started) return JSON.parse(JSON.stringify([started.done])) as CanonicalValue
              live = started
            }
            const msgs = await live.live.next(reply)
            return JSON.parse(JSON.stringify(msgs)) as CanonicalValue
          }, { timed: false }) as unknown as PythonMessage[]
          reply = undefined
          for (const msg of batch) {
            if (msg.t === 'out') emitOutput(msg.s, msg.text)
            else if (msg.t === 'call') reply = await applyCall(msg.capability, msg.args)
            else return finish(msg)
          }
        }
      } finally {
        if (live !== undefined) {
          live.live.abandon()
          await live.release()
        }
      }
    }
  })
}
