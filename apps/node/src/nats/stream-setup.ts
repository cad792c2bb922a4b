import { JetStreamApiError } from '@nats-io/jetstream'
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream'
import { eventStream, eventSubject } from './subjects.ts'

export interface EnsureStreamOptions {
  /** Replicas (R3 in a three-server cluster). */
  replicas?: number
}

/**
 * Creates the node's event stream when missing (file storage, limits
 * retention, 2 min de-duplication window) and returns its info.
 */
export async function ensureEventStream (jsm: JetStreamManager, cluster: string, node: string, options: EnsureStreamOptions = {}): Promise<StreamInfo> {
  const name = eventStream(cluster, node)
  try {
    return await jsm.streams.info(name)
  } catch (err) {
    if (!(err instanceof JetStreamApiError) || err.code !== 10059) throw err
  }
  try {
    return await jsm.streams.add({
      name,
      subjects: [eventSubject(cluster, node)],
      num_replicas: options.replicas ?? 1,
      duplicate_window: 120_000_000_000
    })
  } catch (err) {
    // Another process created it in between.
    if (err instanceof JetStreamApiError && err.code === 10058) return await jsm.streams.info(name)
    throw err
  }
}
