import { availableParallelism, loadavg } from 'node:os'

/** Shared helpers for the kernel benchmarks (wall time is fine here: benches are not the kernel). */
export function now (): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Median of `runs` timings (ms) of `fn`. */
export async function medianMs (runs: number, fn: () => unknown): Promise<number> {
  const times: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = now()
    await fn()
    times.push(now() - t0)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)] as number
}

export interface Timing { wallMs: number, cpuMs: number }

/**
 * Best wall time and best process CPU time (user + system) of `runs` runs of `fn`.
 * On a shared, loaded machine the wall time mostly measures the other tenants;
 * CPU time is what the code itself costs.
 */
export async function bestTiming (runs: number, fn: () => unknown): Promise<Timing> {
  let wallMs = Infinity
  let cpuMs = Infinity
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage()
    const t0 = now()
    await fn()
    const c = process.cpuUsage(c0)
    wallMs = Math.min(wallMs, now() - t0)
    cpuMs = Math.min(cpuMs, (c.user + c.system) / 1000)
  }
  return { wallMs, cpuMs }
}

/** Items per second for `n` items in `ms` milliseconds. */
export function perSec (n: number, ms: number): number {
  return Math.round(n / (ms / 1000))
}

/** The 1-minute load average and core count, printed with every result. */
export function machine (): { loadAvg1m: number, cpus: number } {
  return { loadAvg1m: round(loadavg()[0] ?? 0, 2), cpus: availableParallelism() }
}

export function report (result: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(result) + '\n')
}

export function round (n: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}
