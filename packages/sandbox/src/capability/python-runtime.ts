import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { z } from 'zod'
import type { AnyCapabilityDescriptor } from '@os2/kernel'
import { defineCapability } from '@os2/kernel'
import { createSandbox } from '../sandbox.ts'
import type { Sandbox, SandboxComponents, SandboxInit } from '../sandbox.ts'
import type { SandboxPool } from '../sandbox-pool.ts'
import type { SyscallHandler } from '../types.ts'
import { fetchHost, httpFetch, parseFetchUrl } from './http-fetch.ts'
import { LiveRun, syntheticDone } from './live-run.ts'
import type { OutputSink } from './live-run.ts'
import { createModuleHost } from './module-host.ts'
import type { ModuleHost } from './module-host.ts'
import { createModuleMountCapability, createPipInstallCapability } from './package-capabilities.ts'
import { createPythonExecCapability } from './python-exec.ts'
import type { LiveStart, PythonHost } from './python-exec.ts'

export interface PythonRuntimeInit {
  /** Data dir root: wheels go to `<dataDir>/wheels`, WASM modules to `<dataDir>/modules`. */
  dataDir: string
  /** Warm processes to hand out; without one each run starts a process (from the memory snapshot). */
  pool?: SandboxPool
  /** Snapshot setting passed to the sandbox (default true). */
  snapshot?: boolean | string
}

/** Python capabilities for a kernel, and the live side they run on. */
export interface PythonRuntime {
  /** `python.exec`, `net.fetch`, `pip.install`, `module.mount`: pass them to `createKernel`/`openDataDir`. */
  readonly descriptors: AnyCapabilityDescriptor[]
  /** Where live output goes while a run executes (the CLI's terminal); replay never calls it. */
  setOutputSink: (sink: OutputSink | undefined) => void
  /** Closes kept sessions and sidecar runners. */
  close: () => Promise<void>
}

interface Session {
  sandbox: Sandbox
  route: SyscallHandler | undefined
  modules: ModuleHost | undefined
}

const NetFetchArgs = z.strictObject({
  url: z.string().min(1).max(4096),
  method: z.string().min(1).max(16).optional(),
  headers: z.record(z.string(), z.string().max(8192)).optional(),
  body: z.string().max(200_000).optional()
})

function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/**
 * Creates the Python runtime: the capability descriptors and the sandbox
 * sessions they run in. Sessions start only for live runs; opening a data
 * dir (which replays its ledger) never starts Python.
 *
 * @example
 * const runtime = createPythonRuntime({ dataDir })
 * const { kernel } = await openDataDir(dataDir, { descriptors: runtime.descriptors })
 */
export function createPythonRuntime (init: PythonRuntimeInit): PythonRuntime {
  const dirs = { wheels: join(init.dataDir, 'wheels'), modules: join(init.dataDir, 'modules') }
  const sessions = new Map<string, Session>()
  let sink: OutputSink | undefined

  const loadArtifact = async (dir: string, sha256: string, ext: string, what: string): Promise<Uint8Array> => {
    let bytes: Uint8Array
    try {
      bytes = await readFile(join(dir, `${sha256}.${ext}`))
    } catch (err) {
      throw Object.assign(new Error(`${what} ${sha256}.${ext} is missing from the data dir (${(err as NodeJS.ErrnoException).code ?? ''})`), { code: ext === 'whl' ? 'WHEEL_MISSING' : 'MODULE_MISSING' })
    }
    const actual = sha256Hex(bytes)
    if (actual !== sha256) throw Object.assign(new Error(`${what} ${sha256}.${ext} fails its SHA-256 check (the file now hashes to ${actual}); reinstall it`), { code: ext === 'whl' ? 'WHEEL_HASH_MISMATCH' : 'MODULE_HASH_MISMATCH' })
    return bytes
  }

  const openSession = async (req: LiveStart): Promise<Session> => {
    const wheels = []
    for (const w of req.wheels) wheels.push({ name: w.filename, bytes: await loadArtifact(dirs.wheels, w.sha256, 'whl', `Installed wheel ${w.name} ${w.version}:`) })
    const session: Session = { sandbox: undefined as unknown as Sandbox, route: undefined, modules: undefined }
    const components: SandboxComponents = {
      syscalls: async (call) => session.route !== undefined
        ? await session.route(call)
        : { ok: false, error: { code: 'CAPABILITY_DENIED', message: 'No run is active in this session' } }
    }
    const sandboxInit: SandboxInit = {
      seed: req.seed,
      tick: req.tick,
      unitBudget: req.unitBudget,
      memoryLimitBytes: req.memoryLimitBytes,
      wallClockMs: req.wallClockMs,
      ...(init.snapshot !== undefined ? { snapshot: init.snapshot } : {}),
      ...(wheels.length > 0 ? { wheels } : {})
    }
    session.sandbox = init.pool !== undefined && wheels.length === 0
      ? await init.pool.acquire(components, sandboxInit)
      : await createSandbox(components, sandboxInit)
    if (req.modules.length > 0) {
      const mods = []
      for (const m of req.modules) mods.push({ name: m.name, bytes: await loadArtifact(dirs.modules, m.sha256, 'wasm', `Mounted module ${m.name}:`) })
      session.modules = createModuleHost(mods)
    }
    return session
  }

  const closeSession = async (session: Session): Promise<void> => {
    session.modules?.close()
    await session.sandbox.close()
  }

  const host: PythonHost = {
    async start (req) {
      let session = req.session !== undefined ? sessions.get(req.session) : undefined
      if (session !== undefined && !session.sandbox.alive) {
        sessions.delete(req.session ?? '')
        session = undefined
      }
      if (session === undefined) {
        try {
          session = await openSession(req)
        } catch (err) {
          const code = (err as { code?: unknown }).code
          return { done: syntheticDone('error', typeof code === 'string' ? code : 'SANDBOX_START_FAILED', err instanceof Error ? err.message : String(err)) }
        }
        if (req.session !== undefined) sessions.set(req.session, session)
      }
      const live = new LiveRun(sink)
      const s = session
      s.route = live.syscall
      live.start(s.sandbox, req.code, req.argv, req.unitBudget)
      return {
        live,
        callModule: async (module, exportName, args) => {
          if (s.modules === undefined) throw Object.assign(new Error(`No WASM module is mounted as ${module}`), { code: 'UNKNOWN_MODULE' })
          return await s.modules.call(module, exportName, args)
        },
        release: async () => {
          s.route = undefined
          const keep = req.session !== undefined && s.sandbox.alive && sessions.get(req.session) === s
          if (!keep) {
            if (req.session !== undefined) sessions.delete(req.session)
            await closeSession(s)
          }
        }
      }
    }
  }

  const netFetch = defineCapability({
    id: 'net.fetch',
    version: 1,
    description: 'One HTTP request to a host in the grant allow-list; the response is recorded so replay never calls out',
    args: NetFetchArgs,
    limits: { ceiling: 100_000, cost: 5 },
    scope: args => ({ hosts: [fetchHost(parseFetchUrl(args.url))] }),
    handler: async (args, ctx) => {
      const url = parseFetchUrl(args.url)
      const host = fetchHost(url)
      return await ctx.external('net.fetch', async () => await httpFetch(url, { method: args.method ?? 'GET', headers: args.headers ?? {}, body: args.body ?? null }), { host })
    }
  })

  return {
    descriptors: [
      createPythonExecCapability(host),
      netFetch,
      createPipInstallCapability(dirs),
      createModuleMountCapability(dirs)
    ],
    setOutputSink (next) { sink = next },
    async close () {
      const all = [...sessions.values()]
      sessions.clear()
      await Promise.all(all.map(closeSession))
    }
  }
}
