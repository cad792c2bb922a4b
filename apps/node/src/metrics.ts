import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { EventEnvelope } from '@os2/kernel'
import type { Logger } from 'pino'

/** What the metrics read besides ledger events (sampled at scrape time). */
export interface MetricsSources {
  ledgerSize(): number
  /** Ledger size minus the last seq NATS holds; undefined when NATS is not configured. */
  natsLag(): number | undefined
  natsPublished(): number | undefined
  federationPeers(): number
}

/**
 * The node's Prometheus metrics. Counters and histograms are fed from the
 * ledger event stream (`observe(event)`), so the kernel needs no hook;
 * gauges are sampled from `sources` at scrape time.
 */
export interface NodeMetrics {
  readonly registry: Registry
  /** Feeds one ledger event (in ledger order). */
  observe(event: EventEnvelope): void
  /** Records one snapshot's wall duration. */
  snapshotDuration(seconds: number): void
  /** Counts an alert raised outside the ledger (e.g. a diverged stream). */
  alert(kind: string): void
}

const TICK_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000]
const MS_BUCKETS = [0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 60_000]

class DefaultNodeMetrics implements NodeMetrics {
  readonly registry = new Registry()
  readonly #logger: Logger
  readonly #tokens: Counter<'outcome'>
  readonly #requests: Counter<'outcome'>
  readonly #events: Counter<'type'>
  readonly #violations: Counter<'reason'>
  readonly #budgets: Counter<'kind'>
  readonly #latencyTicks: Histogram<'capability'>
  readonly #latencyMs: Histogram<'capability'>
  readonly #snapshots: Histogram
  readonly #verdicts: Counter<'verdict' | 'reason'>
  readonly #alerts: Counter<'kind'>
  /** token id → capability and start tick, while running. */
  readonly #running = new Map<string, { capability: string, tick: number }>()

  constructor (sources: MetricsSources, logger: Logger) {
    this.#logger = logger
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'os2_' })
    this.#tokens = new Counter({ name: 'os2_tokens_total', help: 'Tokens that finished, by outcome (completed, failed, cancelled)', labelNames: ['outcome'], registers })
    this.#requests = new Counter({ name: 'os2_requests_total', help: 'Protocol requests, by outcome (accepted, rejected)', labelNames: ['outcome'], registers })
    this.#events = new Counter({ name: 'os2_ledger_events_total', help: 'Ledger events, by type', labelNames: ['type'], registers })
    this.#violations = new Counter({ name: 'os2_capability_violations_total', help: 'capability_violation events, by reason', labelNames: ['reason'], registers })
    this.#budgets = new Counter({ name: 'os2_budget_exceeded_total', help: 'resource_budget_exceeded events, by budget kind', labelNames: ['kind'], registers })
    this.#latencyTicks = new Histogram({ name: 'os2_capability_latency_ticks', help: 'Virtual ticks from started to completed, by capability', labelNames: ['capability'], buckets: TICK_BUCKETS, registers })
    this.#latencyMs = new Histogram({ name: 'os2_capability_wall_ms', help: 'Wall-clock milliseconds a token used, by capability', labelNames: ['capability'], buckets: MS_BUCKETS, registers })
    this.#snapshots = new Histogram({ name: 'os2_snapshot_duration_seconds', help: 'Wall time of snapshot creation', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers })
    this.#verdicts = new Counter({ name: 'os2_federation_verdicts_total', help: 'Federation verdicts on incoming bundles, by verdict and reason', labelNames: ['verdict', 'reason'], registers })
    this.#alerts = new Counter({ name: 'os2_alerts_total', help: 'Alerts: ledger integrity, capability violations, policy breaches, stream divergence', labelNames: ['kind'], registers })
    const gauge = (name: string, help: string, read: () => number | undefined): void => {
      new Gauge({ name, help, registers, collect () { const v = read(); if (v !== undefined) this.set(v) } })
    }
    gauge('os2_ledger_size', 'Events in the ledger', () => sources.ledgerSize())
    gauge('os2_nats_publish_lag', 'Ledger events not yet in JetStream (ledger size minus published seq)', () => sources.natsLag())
    gauge('os2_nats_published_seq', 'Ledger events JetStream holds', () => sources.natsPublished())
    gauge('os2_federation_peers', 'Peers with an open federation session', () => sources.federationPeers())
  }

  observe (event: EventEnvelope): void {
    this.#events.inc({ type: event.type })
    const p = event.payload
    switch (event.type) {
      case 'request': this.#requests.inc({ outcome: 'accepted' }); break
      case 'request_rejected': this.#requests.inc({ outcome: 'rejected' }); break
      case 'started':
        if (event.token_id !== null) this.#running.set(event.token_id, { capability: event.capability_id ?? 'unknown', tick: event.tick })
        break
      case 'completed':
      case 'failed':
      case 'cancelled': {
        this.#tokens.inc({ outcome: event.type })
        const run = event.token_id === null ? undefined : this.#running.get(event.token_id)
        if (run !== undefined && event.token_id !== null) {
          this.#running.delete(event.token_id)
          if (event.type === 'completed') this.#latencyTicks.observe({ capability: run.capability }, event.tick - run.tick)
          const used = p.used as { wallClockMs?: number } | undefined
          this.#latencyMs.observe({ capability: run.capability }, typeof used?.wallClockMs === 'number' ? used.wallClockMs : 0)
        }
        break
      }
      case 'capability_violation': {
        const reason = String(p.reason ?? 'unknown')
        this.#violations.inc({ reason })
        this.#alerts.inc({ kind: 'capability_violation' })
        this.#logger.warn({ alert: 'capability_violation', reason, capability: event.capability_id, token: event.token_id, seq: event.seq, detail: p.detail }, 'capability violation')
        break
      }
      case 'resource_budget_exceeded': this.#budgets.inc({ kind: String(p.kind ?? 'unknown') }); break
      case 'alert':
        this.#alerts.inc({ kind: String(p.kind ?? p.reason ?? 'ledger') })
        this.#logger.error({ alert: 'ledger', seq: event.seq, payload: p }, 'ledger alert')
        break
      case 'federation.verdict': {
        const verdict = String(p.verdict ?? 'unknown')
        const reason = String(p.reason ?? 'none')
        this.#verdicts.inc({ verdict, reason })
        if (verdict === 'rejected') {
          this.#alerts.inc({ kind: 'policy_breach' })
          this.#logger.warn({ alert: 'policy_breach', reason, origin: p.origin, memory: p.memory, seq: event.seq, detail: p.detail }, 'federation bundle rejected')
        }
        break
      }
      default: break
    }
  }

  snapshotDuration (seconds: number): void { this.#snapshots.observe(seconds) }

  alert (kind: string): void { this.#alerts.inc({ kind }) }
}

/** Creates the metrics registry of one node. */
export function createNodeMetrics (sources: MetricsSources, logger: Logger): NodeMetrics {
  return new DefaultNodeMetrics(sources, logger)
}
