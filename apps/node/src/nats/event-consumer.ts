import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { ConsumerMessages } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { EventEnvelope } from '@os2/kernel'
import { createChainChecker } from './chain-checker.ts'
import type { StreamAlert } from './chain-checker.ts'
import { clusterStreamPrefix, eventStream } from './subjects.ts'

/** How long each pull waits; heartbeats come every half of it and two missed ones reset the consumer. */
const PULL_EXPIRES_MS = 5000
/** How long a consumer may go without a message while its stream holds more before it is replaced. */
const STALL_MS = 4000
/** How often a consumer without progress checks whether its stream holds more. */
const STALL_CHECK_MS = 1000

export interface SubscribeEventsOptions {
  cluster: string
  /** Nodes to follow; default: every node with a stream in the cluster. */
  nodes?: string[]
  /** First ledger seq wanted, on every node (default 0). */
  since?: number
  /** Keep delivering new events; without it the subscription ends at each stream's end as of the call. */
  follow?: boolean
  /** Called with each verified event, per node in ledger order. */
  onEvent(node: string, event: EventEnvelope): void | Promise<void>
  /** Called when a node's stream diverges from its chain; that node's events stop being delivered. */
  onAlert?(alert: StreamAlert): void
}

export interface EventSubscription {
  /** Resolves when every node's subscription ended (never, with `follow`, until `stop()`). */
  readonly done: Promise<void>
  stop(): Promise<void>
  stats(): { delivered: number, duplicates: number, alerts: StreamAlert[] }
}

/** The nodes of `cluster` that have an event stream. */
export async function listClusterNodes (nc: NatsConnection, cluster: string): Promise<string[]> {
  const jsm = await jetstreamManager(nc, { checkAPI: false })
  const prefix = clusterStreamPrefix(cluster)
  const nodes: string[] = []
  for await (const name of jsm.streams.names()) if (name.startsWith(prefix)) nodes.push(name.slice(prefix.length))
  return nodes.sort()
}

/**
 * `StreamEvents` over NATS: reads each node's events from `since` with an
 * ordered JetStream consumer, re-verifies the node's hash chain (anchored on
 * event `since - 1` when there is one), drops re-deliveries, and raises an
 * alert on the first event that does not continue the chain.
 *
 * @example
 * const sub = await subscribeEvents(nc, { cluster: 'dev', since: 0, onEvent: (node, e) => console.log(node, e.seq, e.type) })
 * await sub.done
 */
export async function subscribeEvents (nc: NatsConnection, options: SubscribeEventsOptions): Promise<EventSubscription> {
  const js = jetstream(nc)
  const jsm = await jetstreamManager(nc, { checkAPI: false })
  const nodes = options.nodes ?? await listClusterNodes(nc, options.cluster)
  const since = options.since ?? 0
  const alerts: StreamAlert[] = []
  const iterators: ConsumerMessages[] = []
  let delivered = 0
  let duplicates = 0
  let stopped = false

  async function follow (node: string): Promise<void> {
    const stream = eventStream(options.cluster, node)
    const info = await jsm.streams.info(stream)
    const end = info.state.last_seq
    if (!options.follow && end <= since) return
    let anchor: string | undefined
    if (since > 0) {
      const prev = await jsm.streams.getMessage(stream, { seq: since }).catch(() => null)
      if (prev !== null) anchor = (JSON.parse(Buffer.from(prev.data).toString('utf8')) as { hash?: string }).hash
    }
    const checker = createChainChecker(since, anchor)
    // The ordered consumer is supervised: when the stream holds events past
    // the last one delivered and nothing arrived for STALL_MS, it is replaced
    // by a new one starting after the last verified event, so the chain
    // checker sees neither a gap nor a duplicate. nats-server 2.9 does stall
    // this way in a cluster after restarts: the consumer's heartbeats report a
    // last delivered stream seq below the stream's last and every pull expires
    // with 408, for good; a new consumer reads on.
    let first = true
    for (;;) {
      let messages: ConsumerMessages
      try {
        const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: checker.next + 1 })
        // Pulls expire (and heartbeats are due) every few seconds rather than the
        // library's 30 s, so a consumer whose ordered consumer vanished with a
        // restarted NATS cluster notices within ~5 s instead of ~60 s.
        messages = await consumer.consume({ expires: PULL_EXPIRES_MS })
      } catch (err) {
        if (first || stopped) throw err
        await new Promise(resolve => setTimeout(resolve, 500))
        continue
      }
      first = false
      iterators.push(messages)
      if (stopped) { messages.stop(); return }
      let progress = Date.now()
      let stalled = false
      let probing = false
      const watchdog = setInterval(() => {
        if (probing || Date.now() - progress < STALL_MS) return
        probing = true
        jsm.streams.info(stream).then(i => {
          // Stream seq of the next expected event is `checker.next + 1`.
          if (i.state.last_seq <= checker.next) progress = Date.now() // idle, not stalled: probe again in STALL_MS
          else if (Date.now() - progress >= STALL_MS) { stalled = true; messages.stop() }
        }, () => undefined).finally(() => { probing = false })
      }, STALL_CHECK_MS)
      let finished = false
      try {
        for await (const m of messages) {
          progress = Date.now()
          const verdict = checker.check(m.data)
          if (verdict.kind === 'duplicate') {
            duplicates++
          } else if (verdict.kind === 'diverged') {
            const alert: StreamAlert = { node, reason: verdict.reason, seq: checker.next, streamSeq: m.seq, message: verdict.message }
            alerts.push(alert)
            options.onAlert?.(alert)
            finished = true
            break
          } else {
            delivered++
            await options.onEvent(node, verdict.event)
          }
          if (!options.follow && m.seq >= end) { finished = true; break }
        }
      } finally {
        clearInterval(watchdog)
        messages.stop()
        iterators.splice(iterators.indexOf(messages), 1)
      }
      if (finished || stopped || !stalled) return
    }
  }

  const done = Promise.all(nodes.map(follow)).then(() => undefined)
  return {
    done,
    async stop () {
      stopped = true
      for (const it of iterators) it.stop()
      await done.catch(() => undefined)
    },
    stats: () => ({ delivered, duplicates, alerts: [...alerts] })
  }
}
