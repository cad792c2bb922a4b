import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p } from '@libp2p/interface'
import type { Logger } from 'pino'
import type { AnyCapabilityDescriptor, KernelHandle } from '@os2/kernel'
import { dataDirPaths, initDataDir, checkDataDir, openDataDir } from '@os2/kernel/node'
import { loadKeyPair } from '@os2/crypto'
import { createPythonRuntime, createSandboxPool } from '@os2/sandbox'
import { createFederationTransport, mountKernelProtocol, nodeIdentity } from '@os2/federation'
import type { FederationTransport, NodeIdentity } from '@os2/federation'
import { createFileStorage, createKernelFederation } from '@os2/federation/kernel'
import type { KernelFederation } from '@os2/federation/kernel'
import type { NodeConfig } from './config.ts'
import { NodeError } from './errors.ts'
import { createHttpServer } from './http-server.ts'
import type { HttpServer, Readiness } from './http-server.ts'
import { createLedgerTail } from './ledger-tail.ts'
import { createNodeMetrics } from './metrics.ts'
import type { NodeMetrics } from './metrics.ts'
import { createEventPublisher } from './nats/event-publisher.ts'
import type { EventPublisher } from './nats/event-publisher.ts'
import { createStreamAlertRecorder } from './nats/stream-alerts.ts'
import { createStreamWatcher } from './nats/stream-watcher.ts'
import type { StreamWatcher, WatchedStream } from './nats/stream-watcher.ts'

/** What a protocol handler gets to mount itself on the node. */
export interface ProtocolContext {
  /** The attach libp2p node (listening on `attach.listen`). */
  libp2p: Libp2p
  kernel: KernelHandle
  identity: NodeIdentity
  config: NodeConfig
  logger: Logger
  /** The capability descriptors the kernel was opened with (replay over attach needs the same set). */
  descriptors: readonly AnyCapabilityDescriptor[]
}

/** A libp2p protocol served by the node; the default list mounts `/os2/kernel/1.0.0`. */
export type ProtocolHandler = (context: ProtocolContext) => Promise<{ unmount(): Promise<void> }>

export interface NodeDaemonComponents {
  logger: Logger
  /** Protocols mounted on the attach libp2p node (default: the kernel protocol). */
  protocolHandlers?: ProtocolHandler[]
}

/** One running component, started in order and stopped in reverse. */
interface Part { name: string, stop(): Promise<void> }

export interface NodeStatus {
  node: string
  cluster: string
  peerId: string
  ledgerSize: number
  federation: string[]
  attach: string[]
  metrics: string
  nats: ReturnType<EventPublisher['status']> | null
  /** The event streams this node follows and re-verifies (its own and `nats.watch`). */
  watching: WatchedStream[]
}

/**
 * The `os2-node` daemon: data dir and kernel (with the Python and memory
 * capabilities), ledger tail feeding the metrics, federation transport, the
 * attach libp2p node with its protocol handlers, the NATS publisher and the
 * HTTP server, started in that order and stopped in reverse with the ledger
 * flushed last.
 */
export interface NodeDaemon {
  start(): Promise<void>
  stop(): Promise<void>
  status(): NodeStatus
  readiness(): Readiness
  readonly kernel: KernelHandle
  readonly metrics: NodeMetrics
}

/** Inbound attach connections accepted per second from one host (libp2p's default is 5). */
export const ATTACH_CONNECTIONS_PER_SECOND = 100
/** Attach connections that may be mid-handshake at once (libp2p's default is 10). */
export const ATTACH_PENDING_CONNECTIONS = 64

/** The default protocol handlers: the attached shell's kernel protocol. */
export const kernelProtocolHandler: ProtocolHandler = async ({ libp2p, kernel, config, logger, descriptors }) => {
  const publicKey = (await import('@os2/kernel/node')).readDataDirPublicKey(config.data_dir)
  const mounted = await mountKernelProtocol(libp2p, { kernel: kernel as never }, { operators: config.attach.operators, publicKey: await publicKey, descriptors: [...descriptors] })
  logger.info({ protocol: '/os2/kernel/1.0.0' }, 'kernel protocol mounted')
  return { unmount: async () => { await mounted.unmount() } }
}

class DefaultNodeDaemon implements NodeDaemon {
  readonly #c: NodeDaemonComponents
  readonly #config: NodeConfig
  readonly #log: Logger
  readonly #parts: Part[] = []
  #kernel: KernelHandle | undefined
  #metrics: NodeMetrics | undefined
  #transport: FederationTransport | undefined
  #libp2p: Libp2p | undefined
  #publisher: EventPublisher | undefined
  #watcher: StreamWatcher | undefined
  #http: HttpServer | undefined
  #identity: NodeIdentity | undefined
  #descriptors: AnyCapabilityDescriptor[] = []
  #stopping: Promise<void> | undefined

  constructor (components: NodeDaemonComponents, config: NodeConfig) {
    this.#c = components
    this.#config = config
    this.#log = components.logger
  }

  get kernel (): KernelHandle {
    if (this.#kernel === undefined) throw new NodeError('START_FAILED', 'The kernel is not open')
    return this.#kernel
  }

  get metrics (): NodeMetrics {
    if (this.#metrics === undefined) throw new NodeError('START_FAILED', 'The node is not started')
    return this.#metrics
  }

  async #step (name: string, run: () => Promise<Part['stop']>): Promise<void> {
    const started = Date.now()
    let stop: Part['stop']
    try {
      stop = await run()
    } catch (err) {
      throw new NodeError('START_FAILED', `Cannot start ${name}: ${(err as Error).message}`, { cause: err })
    }
    this.#parts.push({ name, stop })
    this.#log.info({ component: name, ms: Date.now() - started }, `${name} started`)
  }

  async start (): Promise<void> {
    const config = this.#config
    try {
      let federation: KernelFederation | undefined
      await this.#step('kernel', async () => {
        const dir = config.data_dir
        const fresh = await checkDataDir(dir).then(() => false, () => true)
        if (fresh) {
          await initDataDir(dir, { seed: config.seed })
          this.#log.info({ dataDir: dir, seed: config.seed }, 'data dir initialised')
        }
        const keyPair = await loadKeyPair(dataDirPaths(dir).key)
        const identity = nodeIdentity(keyPair)
        this.#identity = identity
        // No Pyodide process at start; after the first Python session one loaded process waits
        // (restored from the memory snapshot), so later sessions open in tens of milliseconds.
        const pool = createSandboxPool({ size: 0 })
        const python = createPythonRuntime({ dataDir: dir, pool })
        const fed = createKernelFederation({ keyPair, storage: () => createFileStorage(dir) })
        this.#descriptors = [...python.descriptors, ...fed.descriptors]
        const opened = await openDataDir(dir, { descriptors: this.#descriptors }).catch(async (err: unknown) => { await python.close(); await pool.close(); throw err })
        const kernel = opened.kernel
        fed.attach(kernel)
        federation = fed
        this.#kernel = kernel
        this.#instrumentSnapshots(kernel)
        this.#log.info({ ledgerSize: kernel.ledger.size, head: kernel.ledger.head, peerId: identity.peerId }, 'ledger recovered')
        return async () => {
          try {
            await fed.close()
            await python.close()
            await pool.close()
          } finally {
            await kernel.close()
          }
          this.#log.info({ ledgerSize: kernel.ledger.size, head: kernel.ledger.head }, 'ledger flushed')
        }
      })
      await this.#step('metrics feed', async () => {
        const kernel = this.kernel
        this.#metrics = createNodeMetrics({
          ledgerSize: () => kernel.ledger.size,
          natsLag: () => this.#publisher?.status().lag,
          natsPublished: () => this.#publisher?.status().published,
          federationPeers: () => this.#transport?.peers().length ?? 0
        }, this.#log)
        const tail = createLedgerTail(kernel.ledger)
        tail.onEvent(e => { this.#metrics?.observe(e) })
        await tail.start()

        return async () => { await tail.stop() }
      })
      await this.#step('federation', async () => {
        // The daemon serves federation, so it loads the replica (journal, memories) now rather than on first use.
        const { identity, replica } = await (federation as KernelFederation).open()
        const transport = createFederationTransport({ identity, replica }, {
          listen: config.federation.listen,
          bootstrap: config.federation.bootstrap,
          antiEntropyIntervalMs: config.federation.anti_entropy_ms
        })
        await transport.start()
        this.#transport = transport
        this.#log.info({ addrs: transport.addresses() }, 'federation listening')
        return async () => { await transport.stop() }
      })
      if (config.attach.listen.length > 0) {
        await this.#step('attach', async () => {
          const libp2p = await createLibp2p({
            privateKey: (this.#identity as NodeIdentity).libp2pKey,
            addresses: { listen: config.attach.listen },
            // Every attached command is a new connection, and shells behind one NAT or
            // port mapping share an address: libp2p's default of 5 inbound connections
            // per second per host refuses a scripted loop of `os2 --attach` commands mid-handshake.
            connectionManager: { inboundConnectionThreshold: ATTACH_CONNECTIONS_PER_SECOND, maxIncomingPendingConnections: ATTACH_PENDING_CONNECTIONS },
            transports: [tcp()],
            connectionEncrypters: [noise()],
            streamMuxers: [yamux()]
          })
          await libp2p.start()
          this.#libp2p = libp2p
          const mounted: Array<{ unmount(): Promise<void> }> = []
          try {
            for (const handler of this.#c.protocolHandlers ?? [kernelProtocolHandler]) {
              mounted.push(await handler({ libp2p, kernel: this.kernel, identity: this.#identity as NodeIdentity, config, logger: this.#log, descriptors: this.#descriptors }))
            }
          } catch (err) {
            await libp2p.stop()
            throw err
          }
          this.#log.info({ addrs: libp2p.getMultiaddrs().map(String) }, 'attach listening')
          return async () => {
            for (const m of mounted.reverse()) await m.unmount().catch(() => undefined)
            await libp2p.stop()
          }
        })
      }
      if (config.nats.servers.length > 0) {
        const kernel = this.kernel
        const natsLog = this.#log.child({ component: 'nats' })
        // Divergences seen by the publisher or by the node's own consumers become `alert` events in its ledger.
        const alerts = createStreamAlertRecorder({ ledger: kernel.ledger, recordAlert: async payload => await kernel.recordAlert(payload), logger: natsLog }, { cluster: config.cluster })
        const report = (alert: Parameters<typeof alerts.record>[0]): void => {
          alerts.record(alert).catch((err: unknown) => { natsLog.error({ err, alert }, 'cannot record stream alert in the ledger') })
        }
        await this.#step('nats publisher', async () => {
          const publisher = createEventPublisher({ ledger: kernel.ledger, logger: natsLog, onDiverged: report }, {
            servers: config.nats.servers,
            cluster: config.cluster,
            node: config.node,
            replicas: config.nats.replicas,
            window: config.nats.window
          })
          await publisher.start()
          this.#publisher = publisher
          return async () => { await publisher.stop() }
        })
        await this.#step('nats watcher', async () => {
          const watcher = createStreamWatcher({ ledger: kernel.ledger, onAlert: report, logger: natsLog }, {
            servers: config.nats.servers,
            cluster: config.cluster,
            node: config.node,
            watch: config.nats.watch
          })
          await watcher.start()
          this.#watcher = watcher
          return async () => { await watcher.stop() }
        })
      }
      await this.#step('http', async () => {
        const http = createHttpServer({ registry: this.metrics.registry, readiness: () => this.readiness() }, config.metrics.address)
        await http.start()
        this.#http = http
        return async () => { await http.stop() }
      })
      this.#log.info(this.status(), 'node ready')
    } catch (err) {
      await this.stop()
      throw err
    }
  }

  /** Times snapshot creation, both as `snapshots.create()` and as a `CreateSnapshot` request (what attached shells send). */
  #instrumentSnapshots (kernel: KernelHandle): void {
    const timed = async <T>(run: () => Promise<T>): Promise<T> => {
      const started = process.hrtime.bigint()
      try {
        return await run()
      } finally {
        this.#metrics?.snapshotDuration(Number(process.hrtime.bigint() - started) / 1e9)
      }
    }
    const create = kernel.snapshots.create.bind(kernel.snapshots)
    kernel.snapshots.create = async (label?: string) => await timed(async () => await create(label))
    const handle = kernel.handle.bind(kernel)
    kernel.handle = async (request: unknown) => {
      const isSnapshot = typeof request === 'object' && request !== null && (request as { type?: unknown }).type === 'CreateSnapshot'
      return isSnapshot ? await timed(async () => await handle(request)) : await handle(request)
    }
  }

  async stop (): Promise<void> {
    this.#stopping ??= (async () => {
      while (this.#parts.length > 0) {
        const part = this.#parts.pop() as Part
        try {
          await part.stop()
          this.#log.info({ component: part.name }, `${part.name} stopped`)
        } catch (err) {
          this.#log.error({ component: part.name, err }, `${part.name} failed to stop`)
        }
      }
    })()
    await this.#stopping
  }

  readiness (): Readiness {
    const checks: Record<string, string> = {}
    checks.kernel = this.#kernel !== undefined && this.#stopping === undefined ? 'open' : 'closed'
    checks.federation = this.#transport !== undefined ? 'listening' : 'down'
    if (this.#config.nats.servers.length > 0) {
      const s = this.#publisher?.status()
      checks.nats = s === undefined ? 'down' : s.state === 'publishing' ? 'connected' : s.state === 'diverged' ? 'diverged' : 'degraded_buffering'
    }
    const ready = checks.kernel === 'open' && checks.federation === 'listening' && checks.nats !== 'down' && checks.nats !== 'diverged'
    return { ready, checks }
  }

  status (): NodeStatus {
    return {
      node: this.#config.node,
      cluster: this.#config.cluster,
      peerId: this.#identity?.peerId ?? '',
      ledgerSize: this.#kernel?.ledger.size ?? 0,
      federation: this.#transport?.addresses() ?? [],
      attach: this.#libp2p?.getMultiaddrs().map(String) ?? [],
      metrics: this.#http?.address ?? '',
      nats: this.#publisher?.status() ?? null,
      watching: this.#watcher?.streams() ?? []
    }
  }
}

/** Creates the daemon of one node from its validated config. */
export function createNodeDaemon (components: NodeDaemonComponents, config: NodeConfig): NodeDaemon {
  return new DefaultNodeDaemon(components, config)
}
