import { connect } from '@nats-io/transport-node'
import type { NatsConnection } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import type { EventEnvelope } from '@os2/kernel'
import type { Logger } from 'pino'
import type { StreamAlert } from './chain-checker.ts'
import { subscribeEvents } from './event-consumer.ts'
import type { EventSubscription } from './event-consumer.ts'
import { eventStream } from './subjects.ts'

export interface StreamWatcherComponents {
  /** The node's own ledger: its own stream must hold exactly these events. */
  ledger: { get(seq: number): EventEnvelope | undefined }
  /** Where divergences go (the node records them as ledger `alert` events). */
  onAlert(alert: StreamAlert): void | Promise<unknown>
  logger: Logger
}

export interface StreamWatcherInit {
  servers: string[]
  cluster: string
  /** This node: its own stream is always watched, and checked against its ledger. */
  node: string
  /** Other nodes whose streams are followed and re-verified. */
  watch?: string[]
  /** Pause before retrying a stream that is missing or unreachable (default 1 s). */
  retryMs?: number
}

export interface WatchedStream {
  node: string
  /** `following`, `waiting` (stream missing or NATS down) or `diverged` (an alert was raised; no longer followed). */
  state: 'following' | 'waiting' | 'diverged'
  /** The next ledger seq expected from this stream. */
  next: number
}

/**
 * The node's own consumers: follows its own event stream and the streams of
 * the nodes in `watch`, re-verifying each hash chain as events arrive
 * (`subscribeEvents`), and for its own stream also checking every event
 * against the local ledger. The first divergence of a stream goes to
 * `onAlert` and that stream is no longer followed. Each stream is followed
 * from its last message as of start (re-verified against its predecessor),
 * so a restart costs nothing per event already in the stream.
 */
export interface StreamWatcher {
  start(): Promise<void>
  stop(): Promise<void>
  streams(): WatchedStream[]
}

class DefaultStreamWatcher implements StreamWatcher {
  readonly #c: StreamWatcherComponents
  readonly #init: StreamWatcherInit & { retryMs: number }
  readonly #streams = new Map<string, WatchedStream>()
  readonly #subs = new Set<EventSubscription>()
  readonly #loops: Array<Promise<void>> = []
  #nc: NatsConnection | undefined
  #running = false
  readonly #wake = new Set<() => void>()

  constructor (components: StreamWatcherComponents, init: StreamWatcherInit) {
    this.#c = components
    this.#init = { retryMs: 1000, ...init }
    for (const node of [init.node, ...(init.watch ?? []).filter(n => n !== init.node)]) {
      this.#streams.set(node, { node, state: 'waiting', next: -1 })
    }
  }

  async start (): Promise<void> {
    this.#running = true
    void this.#connect()
  }

  async #connect (): Promise<void> {
    try {
      const nc = await connect({ servers: this.#init.servers, name: `os2-node ${this.#init.node} watcher`, waitOnFirstConnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 250, timeout: 2000 })
      if (!this.#running) { await nc.close(); return }
      this.#nc = nc
      for (const stream of this.#streams.values()) this.#loops.push(this.#follow(nc, stream))
    } catch (err) {
      if (this.#running) this.#c.logger.error({ err }, 'nats watcher connection failed')
    }
  }

  async #pause (): Promise<void> {
    await new Promise<void>(resolve => {
      const done = (): void => { clearTimeout(timer); this.#wake.delete(done); resolve() }
      const timer = setTimeout(done, this.#init.retryMs)
      this.#wake.add(done)
    })
  }

  /** The ledger seq to start from: the stream's last event (re-verified against its predecessor), or 0. */
  async #startSeq (nc: NatsConnection, node: string): Promise<number> {
    const jsm = await jetstreamManager(nc, { checkAPI: false, timeout: 5000 })
    const info = await jsm.streams.info(eventStream(this.#init.cluster, node))
    return Math.max(0, info.state.last_seq - 1)
  }

  async #follow (nc: NatsConnection, stream: WatchedStream): Promise<void> {
    const own = stream.node === this.#init.node
    while (this.#running && stream.state !== 'diverged') {
      let sub: EventSubscription | undefined
      let raised: StreamAlert | undefined
      try {
        const since = stream.next >= 0 ? stream.next : await this.#startSeq(nc, stream.node)
        if (!this.#running) return
        const raise = (alert: StreamAlert): void => {
          if (raised !== undefined) return
          raised = alert
          stream.state = 'diverged'
          void sub?.stop()
          Promise.resolve(this.#c.onAlert(alert)).catch((err: unknown) => { this.#c.logger.error({ err, alert }, 'cannot record stream alert') })
        }
        sub = await subscribeEvents(nc, {
          cluster: this.#init.cluster,
          nodes: [stream.node],
          since,
          follow: true,
          onEvent: (_node, event) => {
            if (raised !== undefined) return
            if (own) {
              const local = this.#c.ledger.get(event.seq)
              if (local === undefined || local.hash !== event.hash) {
                raise({
                  node: stream.node,
                  reason: local === undefined ? 'stream_ahead' : 'ledger_mismatch',
                  seq: event.seq,
                  streamSeq: event.seq + 1,
                  message: local === undefined
                    ? `Stream holds event ${event.seq} (${event.hash.slice(0, 12)}) that this ledger does not have`
                    : `Stream event ${event.seq} is ${event.hash.slice(0, 12)}, this ledger has ${local.hash.slice(0, 12)}`
                })
                return
              }
            }
            stream.next = event.seq + 1
          },
          onAlert: raise
        })
        this.#subs.add(sub)
        if (stream.next < 0) stream.next = since
        stream.state = 'following'
        this.#c.logger.info({ node: stream.node, since }, 'watching event stream')
        await sub.done
      } catch (err) {
        if (!this.#running) return
        if ((stream.state as WatchedStream['state']) !== 'diverged') stream.state = 'waiting'
        this.#c.logger.debug({ node: stream.node, err: (err as Error).message }, 'event stream not followed yet; retrying')
      } finally {
        if (sub !== undefined) { this.#subs.delete(sub); await sub.stop().catch(() => undefined) }
      }
      if (this.#running && (stream.state as WatchedStream['state']) !== 'diverged') await this.#pause()
    }
  }

  async stop (): Promise<void> {
    if (!this.#running) return
    this.#running = false
    for (const wake of [...this.#wake]) wake()
    for (const sub of this.#subs) await sub.stop().catch(() => undefined)
    await this.#nc?.close().catch(() => undefined)
    await Promise.all(this.#loops)
  }

  streams (): WatchedStream[] {
    return [...this.#streams.values()].map(s => ({ ...s }))
  }
}

/**
 * Creates the watcher; `start()` returns at once and connects in the
 * background (NATS down at start is not an error).
 *
 * @example
 * const watcher = createStreamWatcher({ ledger: kernel.ledger, onAlert: a => recorder.record(a), logger }, { servers, cluster: 'dev', node: 'a', watch: ['b'] })
 * await watcher.start()
 */
export function createStreamWatcher (components: StreamWatcherComponents, init: StreamWatcherInit): StreamWatcher {
  return new DefaultStreamWatcher(components, init)
}
