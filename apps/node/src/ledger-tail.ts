import type { EventEnvelope } from '@os2/kernel'

/** The part of the kernel ledger a tail reads. */
export interface TailedLedger {
  readonly size: number
  readonly durableSize?: number
  get(seq: number): EventEnvelope | undefined
}

export interface LedgerTailInit {
  /** First seq delivered (default 0: the whole ledger, so counters cover history). */
  from?: number
  /** Poll interval when nobody calls `notify()` (default 50 ms). */
  pollMs?: number
}

/**
 * Follows the kernel ledger from outside the kernel: every durable event is
 * handed to each listener once, in order. It polls (and can be woken with
 * `notify()`), so the kernel needs no hook.
 */
export interface LedgerTail {
  start(): Promise<void>
  /** Delivers what is left, then stops. */
  stop(): Promise<void>
  notify(): void
  onEvent(listener: (event: EventEnvelope) => void): void
  /** The next seq to deliver. */
  readonly position: number
}

class DefaultLedgerTail implements LedgerTail {
  readonly #ledger: TailedLedger
  readonly #pollMs: number
  readonly #listeners: Array<(event: EventEnvelope) => void> = []
  #position: number
  #timer: NodeJS.Timeout | undefined

  constructor (ledger: TailedLedger, init: LedgerTailInit) {
    this.#ledger = ledger
    this.#pollMs = init.pollMs ?? 50
    this.#position = init.from ?? 0
  }

  get position (): number { return this.#position }

  onEvent (listener: (event: EventEnvelope) => void): void { this.#listeners.push(listener) }

  async start (): Promise<void> {
    this.#drain()
    this.#timer = setInterval(() => { this.#drain() }, this.#pollMs)
    this.#timer.unref()
  }

  notify (): void { this.#drain() }

  #drain (): void {
    const end = this.#ledger.durableSize ?? this.#ledger.size
    while (this.#position < end) {
      const event = this.#ledger.get(this.#position)
      if (event === undefined) break
      this.#position++
      for (const l of this.#listeners) l(event)
    }
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    this.#drain()
  }
}

/** Creates a tail of `ledger`. */
export function createLedgerTail (ledger: TailedLedger, init: LedgerTailInit = {}): LedgerTail {
  return new DefaultLedgerTail(ledger, init)
}
