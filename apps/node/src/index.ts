/**
 * @packageDocumentation
 * `@os2/node`: the `os2-node` daemon (kernel, sandbox, federation, attach,
 * NATS fan-out, metrics) and the pieces it is made of. The NATS fan-out alone
 * is `@os2/node/nats`.
 */
export { createNodeDaemon, kernelProtocolHandler } from './daemon.ts'
export { parseNodeConfig, NodeConfigSchema } from './config.ts'
export { NodeError, NODE_ERROR_CODES } from './errors.ts'
export { createNodeMetrics } from './metrics.ts'
export { createHttpServer } from './http-server.ts'
export { createLedgerTail } from './ledger-tail.ts'
export { startNatsServer, findNatsServer, freePort } from './nats-server.ts'
export type { NodeDaemon, NodeDaemonComponents, NodeStatus, ProtocolHandler, ProtocolContext } from './daemon.ts'
export type { NodeConfig } from './config.ts'
export type { NodeErrorCode } from './errors.ts'
export type { NodeMetrics, MetricsSources } from './metrics.ts'
export type { HttpServer, HttpServerComponents, Readiness } from './http-server.ts'
export type { LedgerTail, LedgerTailInit, TailedLedger } from './ledger-tail.ts'
export type { NatsServerProcess, NatsServerOptions } from './nats-server.ts'
