import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** What process isolation this machine gives a sandbox session (for `os2 doctor`). */
export interface IsolationReport {
  platform: string
  node: string
  /** Node's permission model: fs limited to Pyodide + the session dir, no child processes, no workers. */
  permissionModel: boolean
  /** The child's environment is empty: no secrets inherited. */
  emptyEnvironment: true
  networkNamespace: {
    available: boolean
    /** The launcher prefix used, e.g. `['/usr/bin/unshare', '--net', '--']`. */
    launcher: string[] | null
    reason: string
  }
  /** How the memory limit is enforced from outside. */
  memoryLimit: 'rss-poll' | 'unavailable'
  wallClockLimit: true
  notes: string[]
}

let cached: IsolationReport | undefined

const UNSHARE_CANDIDATES = ['/usr/bin/unshare', '/bin/unshare']

function tryLauncher (prefix: string[]): string | undefined {
  const [cmd, ...rest] = prefix
  if (cmd === undefined) return 'empty launcher'
  const out = spawnSync(cmd, [...rest, process.execPath, '-e', '0'], { env: {}, timeout: 10_000, stdio: ['ignore', 'ignore', 'pipe'] })
  if (out.error !== undefined) return out.error.message
  if (out.status !== 0) return `exit ${String(out.status)}: ${out.stderr.toString().trim()}`
  return undefined
}

/**
 * Probes the machine once (cached) and says what isolation a session gets.
 *
 * @returns the isolation report; `networkNamespace.launcher` is what sessions are started with
 * @example
 * ```ts
 * const report = describeIsolation()
 * if (!report.networkNamespace.available) console.warn(report.networkNamespace.reason)
 * ```
 */
export function describeIsolation (): IsolationReport {
  if (cached !== undefined) return cached
  const notes: string[] = []
  const major = Number(process.versions.node.split('.')[0])
  const permissionModel = major >= 20
  let launcher: string[] | null = null
  let reason = 'not Linux: no network namespaces'
  if (process.platform === 'linux') {
    const unshare = UNSHARE_CANDIDATES.find((p) => existsSync(p))
    if (unshare === undefined) {
      reason = 'unshare(1) not found'
    } else {
      const isRoot = typeof process.getuid === 'function' && process.getuid() === 0
      const attempts = isRoot ? [[unshare, '--net', '--'], [unshare, '-rn', '--']] : [[unshare, '-rn', '--'], [unshare, '--net', '--']]
      const failures: string[] = []
      for (const prefix of attempts) {
        const failure = tryLauncher(prefix)
        if (failure === undefined) { launcher = prefix; break }
        failures.push(`${prefix.join(' ')}: ${failure}`)
      }
      reason = launcher !== null ? `sessions start under ${launcher.join(' ')}` : `no namespace could be created (${failures.join('; ')})`
    }
  }
  if (launcher === null) {
    notes.push('No network namespace: network is blocked only inside the child (Python audit hook, Node net/http/tls/dgram/fetch patched before user code)')
  }
  notes.push('Node 20 permission model does not cover network or process.env; the empty environment and the namespace do')
  notes.push('Pyodide itself is not a security boundary; the process is')
  const memoryLimit = existsSync('/proc/self/status') ? 'rss-poll' : 'unavailable'
  if (memoryLimit === 'unavailable') notes.push('No /proc: the memory limit is only --max-old-space-size, which does not cap WebAssembly memory')
  cached = {
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
    permissionModel,
    emptyEnvironment: true,
    networkNamespace: { available: launcher !== null, launcher, reason },
    memoryLimit,
    wallClockLimit: true,
    notes
  }
  return cached
}
