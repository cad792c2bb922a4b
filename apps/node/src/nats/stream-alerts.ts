import type { CanonicalValue } from '@os2/crypto'
import type { EventEnvelope } from '@os2/kernel'
import type { Logger } from 'pino'
import type { StreamAlert } from './chain-checker.ts'
import { eventStream } from './subjects.ts'

/** The `kind` of the ledger `alert` event a stream divergence records. */
export const STREAM_DIVERGENCE_ALERT = 'stream_divergence'

/** What the recorder needs from the node: its ledger (to skip alerts already recorded) and the kernel's `recordAlert`. */
export interface StreamAlertRecorderComponents {
  ledger: { readonly size: number, events(from?: number, to?: number): Iterable<EventEnvelope> }
  recordAlert(payload: Record<string, CanonicalValue>): Promise<unknown>
  logger: Logger
}

export interface StreamAlertRecorderInit {
  cluster: string
}

/**
 * Turns a `StreamAlert` (a consumer found a node's stream diverged from its
 * hash chain, or the publisher found its own stream ahead of its ledger)
 * into an `alert` event in the node's own ledger, and logs it. One offending
 * message gives one alert: alerts already in the ledger for the same stream
 * message (`node`, `stream_seq`) are not recorded again, across restarts too.
 * The payload holds only what the stream says (no wall time), so a replay of
 * the ledger reproduces it.
 */
export interface StreamAlertRecorder {
  /** Records the alert unless the same stream message was already reported; resolves `true` when recorded. */
  record(alert: StreamAlert): Promise<boolean>
}

/** The payload of the ledger `alert` event for a stream divergence. */
export function streamAlertPayload (cluster: string, alert: StreamAlert): Record<string, CanonicalValue> {
  return {
    kind: STREAM_DIVERGENCE_ALERT,
    node: alert.node,
    stream: eventStream(cluster, alert.node),
    reason: alert.reason,
    seq: alert.seq,
    stream_seq: alert.streamSeq,
    message: alert.message.slice(0, 512)
  }
}

class DefaultStreamAlertRecorder implements StreamAlertRecorder {
  readonly #c: StreamAlertRecorderComponents
  readonly #cluster: string
  #seen: Set<string> | undefined
  #queue: Promise<unknown> = Promise.resolve()

  constructor (components: StreamAlertRecorderComponents, init: StreamAlertRecorderInit) {
    this.#c = components
    this.#cluster = init.cluster
  }

  #known (): Set<string> {
    if (this.#seen === undefined) {
      this.#seen = new Set()
      for (const e of this.#c.ledger.events(0, this.#c.ledger.size)) {
        if (e.type === 'alert' && e.payload.kind === STREAM_DIVERGENCE_ALERT) this.#seen.add(`${String(e.payload.node)}/${String(e.payload.stream_seq)}`)
      }
    }
    return this.#seen
  }

  async record (alert: StreamAlert): Promise<boolean> {
    // One at a time, so two reports of the same message cannot both pass the check.
    const run = this.#queue.then(async () => {
      const key = `${alert.node}/${alert.streamSeq}`
      const seen = this.#known()
      if (seen.has(key)) {
        this.#c.logger.info({ alert: STREAM_DIVERGENCE_ALERT, node: alert.node, stream_seq: alert.streamSeq, reason: alert.reason }, 'stream alert already in the ledger')
        return false
      }
      seen.add(key)
      const payload = streamAlertPayload(this.#cluster, alert)
      this.#c.logger.error({ alert: STREAM_DIVERGENCE_ALERT, ...payload }, `Stream of node ${alert.node} diverged (${alert.reason}) at stream message ${alert.streamSeq}: ${alert.message}`)
      await this.#c.recordAlert(payload)
      return true
    })
    this.#queue = run.catch(() => undefined)
    return await run
  }
}

/** Creates the recorder of stream divergence alerts for one node. */
export function createStreamAlertRecorder (components: StreamAlertRecorderComponents, init: StreamAlertRecorderInit): StreamAlertRecorder {
  return new DefaultStreamAlertRecorder(components, init)
}
