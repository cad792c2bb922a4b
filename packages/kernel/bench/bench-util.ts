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

export function report (result: Record<string, unknown>): void {
  process.stdout.write(JSON.stringify(result) + '\n')
}

export function round (n: number, digits = 2): number {
  const f = 10 ** digits
  return Math.round(n * f) / f
}
