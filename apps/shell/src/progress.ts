/** A progress indicator for long work; the no-op version is used off-TTY. */
export interface Progress {
  update(done: number, total?: number): void
  stop(): void
}

export const NO_PROGRESS: Progress = { update () {}, stop () {} }

/** A cli-progress bar on stderr (loaded lazily: only TTY sessions pay for it). */
export async function createProgressBar (label: string, total: number, stream: NodeJS.WritableStream): Promise<Progress> {
  const { SingleBar, Presets } = (await import('cli-progress')).default
  const bar = new SingleBar({ format: `${label} [{bar}] {value}/{total}`, stream, hideCursor: true, clearOnComplete: true }, Presets.shades_classic)
  bar.start(Math.max(total, 1), 0)
  return {
    update (done: number, newTotal?: number) {
      if (newTotal !== undefined) bar.setTotal(Math.max(newTotal, 1))
      bar.update(done)
    },
    stop () { bar.stop() }
  }
}
