import { canonicalize } from '@os2/crypto'
import type { EventEnvelope } from '@os2/kernel'
import { connect, headers } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { JetStreamClient, JetStreamManager, PubAck } from '@nats-io/jetstream'
import type { Logger } from 'pino'
import type { StreamAlert } from './chain-checker.ts'
import { ensureEventStream } from './stream-setup.ts'
import { eventStream, eventSubject, NODE_HEADER, SEQ_HEADER } from './subjects.ts'

/** What the publisher reads: the kernel ledger (only durable events are published). */
export interface PublishedLedger {
  readonly size: number
  /** Events the storage acknowledged; defaults to `size` when absent. */
  readonly durableSize?: number
  get(seq: number): EventEnvelope | undefined
}

export interface EventPublisherComponents {
  ledger: PublishedLedger
  logger: Logger
  /** Called once when the stream is found ahead of or different from the ledger (publishing stops). */
  onDiverged?(alert: StreamAlert): void
}

export interface EventPublisherInit {
  servers: string[]
  cluster: string
  node: string
  replicas?: number
  /** Publishes in flight before waiting for acks (default 256). */
  window?: number
  /** How often the ledger is polled when nobody calls `notify()` (default 25 ms). */
  pollMs?: number
  /** How long `stop()` keeps publishing the backlog before giving up (default 5 s). */
  drainMs?: number
}

export type PublisherState = 'connecting' | 'publishing' | 'degraded' | 'diverged' | 'stopped'

export interface PublisherStatus {
  state: PublisherState
  connected: boolean
  /** Ledger events known to be in the stream (the next seq to publish). */
  published: number
  /** Ledger size minus `published`. */
  lag: number
  publishedTotal: number
  errors: number
}

/**
 * Publishes every ledger event to `os2.<cluster>.events.<node>`, in order,
 * gap-free and without duplicates. It tails the ledger rather than hooking
 * the kernel: while NATS is down the kernel keeps working and the publisher
 * waits; when NATS returns it asks the stream for the last event it holds and
 * publishes from there. Each message carries msg id = event hash (server-side
 * de-duplication) and asserts that the stream's last msg id is the event's
 * `prev_hash`, so nothing can be stored out of order or after a gap.
 */
export interface EventPublisher {
  start(): Promise<void>
  /** Publishes what it can of the backlog (bounded by `drainMs`), then closes the connection. */
  stop(): Promise<void>
  /** Wakes the publisher (new events were appended). */
  notify(): void
  status(): PublisherStatus
  /** Resolves once `published >= seq` (or rejects after `timeoutMs`). */
  waitFor(seq: number, timeoutMs?: number): Promise<void>
}

class DefaultEventPublisher implements EventPublisher {
  readonly #c: EventPublisherComponents
  readonly #subject: string
  readonly #stream: string
  readonly #init: Required<Pick<EventPublisherInit, 'window' | 'pollMs' | 'drainMs' | 'replicas'>> & EventPublisherInit
  #nc: NatsConnection | undefined
  #js: JetStreamClient | undefined
  #jsm: JetStreamManager | undefined
  #state: PublisherState = 'connecting'
  #published = 0
  #synced = false
  #running = false
  #draining = false
  #loop: Promise<void> | undefined
  #wake: (() => void) | undefined
  #total = 0
  #errors = 0

  constructor (components: EventPublisherComponents, init: EventPublisherInit) {
    this.#c = components
    this.#init = { window: 256, pollMs: 25, drainMs: 5000, replicas: 1, ...init }
    this.#subject = eventSubject(init.cluster, init.node)
    this.#stream = eventStream(init.cluster, init.node)
  }

  async start (): Promise<void> {
    this.#running = true
    void this.#connect()
    this.#loop = this.#run()
  }

  async #connect (): Promise<void> {
    try {
      const nc = await connect({
        servers: this.#init.servers,
        name: `os2-node ${this.#init.node}`,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: 2000
      })
      if (!this.#running) { await nc.close(); return }
      this.#nc = nc
      this.#js = jetstream(nc, { timeout: 5000 })
      this.#jsm = await jetstreamManager(nc, { timeout: 5000, checkAPI: false })
      this.#c.logger.info({ servers: this.#init.servers }, 'nats connected')
      void this.#watch(nc)
      this.notify()
    } catch (err) {
      if (this.#running) this.#c.logger.error({ err }, 'nats connection failed')
    }
  }

  async #watch (nc: NatsConnection): Promise<void> {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') {
        this.#synced = false
        if (this.#state !== 'diverged') this.#state = 'degraded'
        this.#c.logger.warn('nats disconnected; buffering in the ledger')
      } else if (s.type === 'reconnect') {
        this.#c.logger.info('nats reconnected; publishing the backlog')
        this.notify()
      }
    }
  }

  notify (): void {
    const wake = this.#wake
    this.#wake = undefined
    wake?.()
  }

  async #sleep (ms: number): Promise<void> {
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => { this.#wake = undefined; resolve() }, ms)
      this.#wake = () => { clearTimeout(timer); resolve() }
    })
  }

  #durable (): number {
    return this.#c.ledger.durableSize ?? this.#c.ledger.size
  }

  /** Finds where the stream stops: the seq after its last event, checked against the local ledger. */
  async #sync (): Promise<void> {
    const jsm = this.#jsm as JetStreamManager
    await ensureEventStream(jsm, this.#init.cluster, this.#init.node, { replicas: this.#init.replicas })
    const last = await jsm.streams.getMessage(this.#stream, { last_by_subj: this.#subject }).catch((err: unknown) => {
      if ((err as { code?: number }).code === 10037) return null
      throw err
    })
    if (last === null) {
      this.#published = 0
    } else {
      const seq = Number(last.header.get(SEQ_HEADER))
      const local = this.#c.ledger.get(seq)
      let hash: string | undefined
      try {
        hash = (JSON.parse(Buffer.from(last.data).toString('utf8')) as { hash?: string } | null)?.hash
      } catch { /* not an envelope: diverged below */ }
      if (local === undefined || local.hash !== hash) {
        this.#state = 'diverged'
        const message = `Stream ${this.#stream} holds event ${seq} that this ledger ${local === undefined ? 'does not have' : 'disagrees with'}; publishing stopped`
        this.#c.logger.error({ alert: 'stream_diverged', stream: this.#stream, seq, streamHash: hash, localHash: local?.hash ?? null }, message)
        this.#c.onDiverged?.({ node: this.#init.node, reason: local === undefined ? 'stream_ahead' : 'ledger_mismatch', seq: Number.isSafeInteger(seq) ? seq : last.seq - 1, streamSeq: last.seq, message })
        return
      }
      this.#published = seq + 1
    }
    this.#synced = true
    this.#state = 'publishing'
  }

  async #run (): Promise<void> {
    while (this.#running || this.#draining) {
      if (this.#state === 'diverged') { if (this.#draining) return; await this.#sleep(1000); continue }
      const nc = this.#nc
      if (nc === undefined || nc.isClosed()) {
        if (this.#draining) return
        await this.#sleep(this.#init.pollMs * 4)
        continue
      }
      try {
        if (!this.#synced) await this.#sync()
        if (!this.#synced) continue
        const size = this.#durable()
        if (this.#published >= size) {
          if (this.#draining) return
          await this.#sleep(this.#init.pollMs)
          continue
        }
        const end = Math.min(size, this.#published + this.#init.window)
        const acks: Array<Promise<PubAck>> = []
        for (let seq = this.#published; seq < end; seq++) {
          const event = this.#c.ledger.get(seq) as EventEnvelope
          const h = headers()
          h.set(SEQ_HEADER, String(seq))
          h.set(NODE_HEADER, this.#init.node)
          const expect = seq === 0 ? {} : { lastMsgID: event.prev_hash }
          acks.push((this.#js as JetStreamClient).publish(this.#subject, canonicalize(event), { msgID: event.hash, expect, headers: h }))
        }
        const results = await Promise.allSettled(acks)
        const failed = results.findIndex(r => r.status === 'rejected')
        const ok = failed === -1 ? results.length : failed
        this.#published += ok
        this.#total += ok
        if (failed !== -1) {
          this.#errors++
          this.#synced = false
          const reason = (results[failed] as PromiseRejectedResult).reason as Error
          this.#c.logger.warn({ err: reason.message, seq: this.#published }, 'nats publish failed; resyncing')
          if (this.#draining) return
          await this.#sleep(250)
        } else if (this.#state === 'degraded') {
          this.#state = 'publishing'
        }
      } catch (err) {
        this.#errors++
        this.#synced = false
        if ((this.#state as PublisherState) !== 'diverged') this.#state = 'degraded'
        this.#c.logger.warn({ err: (err as Error).message }, 'nats unavailable; events stay in the ledger')
        if (this.#draining) return
        await this.#sleep(500)
      }
    }
  }

  async waitFor (seq: number, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs
    while (this.#published < seq) {
      if (Date.now() > deadline) throw new Error(`Publisher reached ${this.#published} of ${seq} events in ${timeoutMs} ms (state ${this.#state})`)
      await new Promise(resolve => setTimeout(resolve, 10))
    }
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    this.#draining = this.#nc !== undefined && !this.#nc.isClosed()
    this.notify()
    const drained = this.#loop ?? Promise.resolve()
    let timer: NodeJS.Timeout | undefined
    await Promise.race([drained, new Promise(resolve => { timer = setTimeout(resolve, this.#init.drainMs) })])
    clearTimeout(timer)
    this.#draining = false
    this.notify()
    await this.#nc?.close().catch(() => undefined)
    // A first connection still being attempted (NATS never reached) is not awaited: `#connect` closes it when it lands.
    await drained
    this.#state = 'stopped'
  }

  status (): PublisherStatus {
    const connected = this.#nc !== undefined && !this.#nc.isClosed() && this.#state !== 'degraded' && this.#state !== 'connecting'
    return {
      state: this.#state,
      connected,
      published: this.#published,
      lag: Math.max(0, this.#c.ledger.size - this.#published),
      publishedTotal: this.#total,
      errors: this.#errors
    }
  }
}

/**
 * Creates the publisher; `start()` returns at once, the connection is made
 * (and retried forever) in the background.
 *
 * @example
 * const publisher = createEventPublisher({ ledger: kernel.ledger, logger }, { servers: ['nats://127.0.0.1:4222'], cluster: 'dev', node: 'a' })
 * await publisher.start()
 */
export function createEventPublisher (components: EventPublisherComponents, init: EventPublisherInit): EventPublisher {
  return new DefaultEventPublisher(components, init)
}
