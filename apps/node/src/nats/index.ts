/**
 * The NATS event fan-out, importable on its own (`@os2/node/nats`) by the
 * shell's `os2 events` command and by dashboards.
 */
export { eventSubject, eventStream, clusterStreamPrefix, SEQ_HEADER, NODE_HEADER } from './subjects.ts'
export { ensureEventStream } from './stream-setup.ts'
export { createEventPublisher } from './event-publisher.ts'
export { subscribeEvents, listClusterNodes } from './event-consumer.ts'
export { createChainChecker } from './chain-checker.ts'
export { createStreamWatcher } from './stream-watcher.ts'
export { createStreamAlertRecorder, streamAlertPayload, STREAM_DIVERGENCE_ALERT } from './stream-alerts.ts'
export type { EnsureStreamOptions } from './stream-setup.ts'
export type { EventPublisher, EventPublisherComponents, EventPublisherInit, PublisherState, PublisherStatus, PublishedLedger } from './event-publisher.ts'
export type { SubscribeEventsOptions, EventSubscription } from './event-consumer.ts'
export type { ChainChecker, ChainVerdict, DivergenceReason, StreamAlert, StreamAlertReason } from './chain-checker.ts'
export type { StreamWatcher, StreamWatcherComponents, StreamWatcherInit, WatchedStream } from './stream-watcher.ts'
export type { StreamAlertRecorder, StreamAlertRecorderComponents, StreamAlertRecorderInit } from './stream-alerts.ts'
