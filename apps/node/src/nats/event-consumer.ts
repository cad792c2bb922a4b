import { DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream'
import type { ConsumerMessages } from '@nats-io/jetstream'
import type { NatsConnection } from '@nats-io/transport-node'
import type { EventEnvelope } from '@os2/kernel'
import { createChainChecker } from './chain-checker.ts'
import type { StreamAlert } from './chain-checker.ts'
import { clusterStreamPrefix, eventStream } from './subjects.ts'

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
    const consumer = await js.consumers.get(stream, { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: since + 1 })
    const messages = await consumer.consume()
    iterators.push(messages)
    if (stopped) { messages.stop(); return }
    for await (const m of messages) {
      const verdict = checker.check(m.data)
      if (verdict.kind === 'duplicate') {
        duplicates++
      } else if (verdict.kind === 'diverged') {
        const alert: StreamAlert = { node, reason: verdict.reason, seq: checker.next, streamSeq: m.seq, message: verdict.message }
        alerts.push(alert)
        options.onAlert?.(alert)
        messages.stop()
        break
      } else {
        delivered++
        await options.onEvent(node, verdict.event)
      }
      if (!options.follow && m.seq >= end) { messages.stop(); break }
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
