/** The kernel's only notion of time: a logical tick counter. Wall time reaches the kernel only through apps. */
export interface Clock {
  /** The current tick. */
  now(): number
  /** Moves time forward by `ticks` (never backwards) and returns the new tick. */
  advance(ticks: number): number
}

class VirtualClock implements Clock {
  #tick: number
  constructor (start: number) { this.#tick = start }
  now (): number { return this.#tick }
  advance (ticks: number): number {
    if (!Number.isSafeInteger(ticks) || ticks < 0) throw new RangeError(`Cannot advance clock by ${ticks}: ticks must be a non-negative integer`)
    this.#tick += ticks
    return this.#tick
  }
}

/** A virtual clock starting at `start` (default 0). */
export function createVirtualClock (start = 0): Clock {
  return new VirtualClock(start)
}
