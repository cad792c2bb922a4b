import { createHash } from 'node:crypto'
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises'
import { basename, join } from 'node:path'
import { z } from 'zod'
import type { CanonicalValue } from '@os2/crypto'
import { defineCapability, KernelError } from '@os2/kernel'
import type { CapabilityContext, CapabilityDescriptor } from '@os2/kernel'
import { fetchHost, parseFetchUrl } from './http-fetch.ts'
import { MODULES_NAMESPACE, PIP_NAMESPACE } from './python-exec.ts'
import { inspectWheel, normalizeProjectName, WheelError } from './wheel-archive.ts'

const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits')

export const PipInstallArgs = z.strictObject({
  /** An absolute wheel path, an http(s) wheel URL, or a project name (with `findLinks` or `index`). */
  source: z.string().min(1).max(2048),
  /** Expected SHA-256 of the wheel; a mismatch refuses the install. */
  sha256: Sha256.optional(),
  /** A local folder of wheels to look the project name up in. */
  findLinks: z.string().min(1).max(2048).optional(),
  /** A PEP 503 simple index URL (its host must be in the grant's hosts). */
  index: z.string().min(1).max(2048).optional()
})
export type PipInstallArgs = z.infer<typeof PipInstallArgs>

export const ModuleMountArgs = z.strictObject({
  /** Name Python sees: `os2.modules.<name>`. */
  name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'must be a Python identifier of at most 64 chars'),
  /** Absolute path of the .wasm file. */
  source: z.string().min(1).max(2048),
  sha256: Sha256.optional()
})
export type ModuleMountArgs = z.infer<typeof ModuleMountArgs>

/** Where installed artifacts live inside a data dir. */
export interface ArtifactDirs {
  wheels: string
  modules: string
}

type Outcome = { ok: true, [k: string]: CanonicalValue } | { ok: false, code: string, message: string }

function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function isUrl (s: string): boolean {
  return /^https?:\/\//i.test(s)
}

async function download (url: string): Promise<Buffer> {
  const res = await fetch(parseFetchUrl(url))
  if (!res.ok) throw new Error(`GET ${url} returned ${res.status}`)
  return Buffer.from(await res.arrayBuffer())
}

/** Writes `bytes` to `dir/name` through a temp file and a rename, so a failure leaves nothing behind. */
async function storeAtomically (dir: string, name: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${name}.${process.pid}.tmp`)
  await writeFile(tmp, bytes)
  await rename(tmp, join(dir, name))
}

function failure (capability: string, out: Extract<Outcome, { ok: false }>): KernelError {
  return new KernelError('HANDLER_FAILED', `${out.code}: ${out.message}`, { details: { [capability]: { code: out.code } } })
}

/** Finds a wheel for `name` in a local folder or a simple index; returns its bytes and the hash the index promised. */
async function resolveWheel (args: PipInstallArgs): Promise<{ bytes: Buffer, filename: string, expected?: string }> {
  if (isUrl(args.source)) {
    const url = new URL(args.source)
    const expected = /sha256=([0-9a-f]{64})/.exec(url.hash)?.[1]
    url.hash = ''
    return { bytes: await download(url.href), filename: basename(url.pathname), ...(expected !== undefined ? { expected } : {}) }
  }
  if (args.source.includes('/') || args.source.endsWith('.whl')) {
    try {
      return { bytes: await readFile(args.source), filename: basename(args.source) }
    } catch (err) {
      throw new Error(`Cannot read wheel ${args.source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
  }
  const project = normalizeProjectName(args.source).replace(/-/g, '_')
  const matches = (file: string): boolean => file.endsWith('-none-any.whl') && normalizeProjectName(file.split('-')[0] ?? '').replace(/-/g, '_') === project
  if (args.findLinks !== undefined) {
    const files = (await readdir(args.findLinks).catch(() => [] as string[])).filter(matches).sort()
    const file = files[files.length - 1]
    if (file === undefined) throw new Error(`No pure-Python wheel for ${args.source} in ${args.findLinks}`)
    return { bytes: await readFile(join(args.findLinks, file)), filename: file }
  }
  if (args.index !== undefined) {
    const page = new URL(`${normalizeProjectName(args.source)}/`, args.index.endsWith('/') ? args.index : `${args.index}/`)
    const html = (await download(page.href)).toString('utf8')
    const links = [...html.matchAll(/href="([^"]+)"/g)].map(m => new URL(m[1] ?? '', page))
    const wheels = links.filter(u => matches(basename(u.pathname)))
    const pick = wheels[wheels.length - 1]
    if (pick === undefined) throw new Error(`The index ${args.index} has no pure-Python wheel for ${args.source}`)
    const expected = /sha256=([0-9a-f]{64})/.exec(pick.hash)?.[1]
    pick.hash = ''
    return { bytes: await download(pick.href), filename: basename(pick.pathname), ...(expected !== undefined ? { expected } : {}) }
  }
  throw new Error(`Cannot find ${args.source}: give a wheel file, a URL, --find-links <dir> or --index-url <url>`)
}

/**
 * `pip.install`: fetches a wheel (local file, URL, local folder or an
 * allow-listed simple index), checks its SHA-256 and that it is a complete,
 * pure-Python wheel, stores it as `<data-dir>/wheels/<sha256>.whl` and records
 * it in the ledger and in state (`os2.pip`). Every later `python.exec` checks
 * the hash again before loading it. The fetch is an external call: replay
 * serves the recorded outcome without touching the file or the network.
 */
export function createPipInstallCapability (dirs: ArtifactDirs): CapabilityDescriptor<PipInstallArgs> {
  return defineCapability({
    id: 'pip.install',
    version: 1,
    description: 'Installs a pure-Python wheel (SHA-256 recorded and checked on every load) for later python.exec runs',
    args: PipInstallArgs,
    limits: { ceiling: 1_000_000, cost: 50 },
    scope: args => {
      const url = isUrl(args.source) ? args.source : args.index
      return url !== undefined ? { hosts: [fetchHost(parseFetchUrl(url))], namespaces: [PIP_NAMESPACE] } : { namespaces: [PIP_NAMESPACE] }
    },
    handler: async (args, ctx: CapabilityContext) => {
      const out = await ctx.external<Outcome>('pip.fetch', async () => {
        let found
        try {
          found = await resolveWheel(args)
        } catch (err) {
          return { ok: false, code: 'WHEEL_NOT_FOUND', message: (err as Error).message }
        }
        const sha256 = sha256Hex(found.bytes)
        for (const expected of [args.sha256, found.expected]) {
          if (expected !== undefined && expected !== sha256) {
            return { ok: false, code: 'WHEEL_HASH_MISMATCH', message: `Hash mismatch for ${found.filename}: expected sha256 ${expected}, got ${sha256}` }
          }
        }
        let info
        try {
          info = inspectWheel(found.bytes)
        } catch (err) {
          if (err instanceof WheelError) return { ok: false, code: err.code, message: `${found.filename}: ${err.message}` }
          throw err
        }
        await storeAtomically(dirs.wheels, `${sha256}.whl`, found.bytes)
        return { ok: true, name: info.name, version: info.version, sha256, filename: found.filename, bytes: found.bytes.length }
      }, { timed: false })
      if (!out.ok) throw failure('pip', out)
      const record = { name: String(out.name), version: String(out.version), sha256: String(out.sha256), filename: String(out.filename) }
      ctx.put(PIP_NAMESPACE, normalizeProjectName(record.name), record)
      ctx.emit('pip.installed', record)
      return record
    }
  })
}

/**
 * `module.mount`: validates a WASM module (`WebAssembly.validate`), stores it
 * as `<data-dir>/modules/<sha256>.wasm` and records name, hash and exported
 * functions. Python calls it as `os2.modules.<name>.<export>(ints...)`; it
 * runs under WASI (preview1) with no preopened directories and an empty
 * environment, in its own process.
 */
export function createModuleMountCapability (dirs: ArtifactDirs): CapabilityDescriptor<ModuleMountArgs> {
  return defineCapability({
    id: 'module.mount',
    version: 1,
    description: 'Mounts a WASM module (WASI preview1, no preopens) callable from Python as os2.modules.<name>',
    args: ModuleMountArgs,
    limits: { ceiling: 1_000_000, cost: 10 },
    scope: () => ({ namespaces: [MODULES_NAMESPACE] }),
    handler: async (args, ctx) => {
      const out = await ctx.external<Outcome>('module.load', async () => {
        let bytes: Buffer
        try {
          bytes = await readFile(args.source)
        } catch (err) {
          return { ok: false, code: 'MODULE_NOT_FOUND', message: `Cannot read ${args.source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` }
        }
        const sha256 = sha256Hex(bytes)
        if (args.sha256 !== undefined && args.sha256 !== sha256) return { ok: false, code: 'MODULE_HASH_MISMATCH', message: `Hash mismatch for ${args.source}: expected sha256 ${args.sha256}, got ${sha256}` }
        const view = new Uint8Array(bytes)
        if (!WebAssembly.validate(view)) return { ok: false, code: 'MODULE_INVALID', message: `${basename(args.source)} is not a valid WebAssembly module` }
        const mod = new WebAssembly.Module(view)
        const imports = WebAssembly.Module.imports(mod).filter(i => i.module !== 'wasi_snapshot_preview1' && i.module !== 'wasi_unstable')
        if (imports.length > 0) return { ok: false, code: 'MODULE_INVALID', message: `${basename(args.source)} imports ${imports.map(i => `${i.module}.${i.name}`).join(', ')}: only WASI preview1 imports are provided` }
        const exports = WebAssembly.Module.exports(mod).filter(e => e.kind === 'function').map(e => e.name).sort()
        await storeAtomically(dirs.modules, `${sha256}.wasm`, bytes)
        return { ok: true, sha256, exports, bytes: bytes.length }
      }, { timed: false })
      if (!out.ok) throw failure('module', out)
      const record = { name: args.name, sha256: String(out.sha256), exports: out.exports as string[] }
      ctx.put(MODULES_NAMESPACE, args.name, record)
      ctx.emit('module.mounted', record)
      return record
    }
  })
}
