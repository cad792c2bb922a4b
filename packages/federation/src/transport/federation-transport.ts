import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { canonicalize } from '@os2/crypto'
import { DEFAULT_MAX_BUNDLE_BYTES } from '../bundle/federated-change.ts'
import { FRAME, FEDERATION_PROTOCOL, decodeFrame, encodeFrame } from './wire.ts'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { NodeIdentity } from '../identity.ts'
import type { FederationReplica } from '../replica.ts'

export interface FederationTransportComponents {
  identity: NodeIdentity
  replica: FederationReplica
}

export interface FederationTransportInit {
  /** Listen multiaddrs, e.g. `/ip4/127.0.0.1/tcp/0`. */
  listen?: string[]
  /** Static bootstrap peers (multiaddrs with `/p2p/<peer id>`), redialled while disconnected. */
  bootstrap?: string[]
  /** Largest bundle accepted; frames longer than twice this drop the peer. Default 4 MiB. */
  maxBundleBytes?: number
  /** How often sequence vectors are re-exchanged and bootstrap peers redialled, ms. Default 1000. */
  antiEntropyIntervalMs?: number
  /** Most bundles asked for in one pull. Default 1024. */
  pullBatch?: number
  /** Bundle-level offences (malformed, oversized, forged) before a peer is dropped. Default 16. */
  maxStrikes?: number
  /** How long a dropped peer stays banned, ms. Default 10,000. */
  banMs?: number
  /**
   * A local write this soon after an own bundle was pushed, ms, is part of a
   * burst: it waits in the outbox until the peers answer a SYNC (default 2).
   * Writes further apart are sealed and pushed at once.
   */
  burstWindowMs?: number
}

export interface PeerStatus {
  peerId: string
  /** The peer's last known sequence vector. */
  vector: Record<string, number>
}

/** libp2p transport for a replica: vectors on connect, pulls, pushes, anti-entropy. */
export interface FederationTransport {
  start(): Promise<void>
  stop(): Promise<void>
  readonly peerId: string
  /** Listening multiaddrs, each with `/p2p/<peer id>`. */
  addresses(): string[]
  /** Peers with an open federation session, sorted. */
  peers(): PeerStatus[]
  /** Cuts every connection and refuses new ones until `reconnect()` (a partition). */
  disconnect(): Promise<void>
  /** Lifts `disconnect()` and redials bootstrap peers at once. */
  reconnect(): Promise<void>
  /** Dials a peer now (in addition to bootstrap peers). */
  dial(addr: string): Promise<void>
  /** Counters: frames in and out, peers dropped for garbage. */
  stats(): { framesIn: number, framesOut: number, dropped: number }
}

const GARBAGE_ERRORS = new Set(['InvalidDataLengthError', 'InvalidMessageLengthError', 'InvalidDataLengthLengthError'])
const STRIKE_REASONS = new Set(['MALFORMED', 'OVERSIZED', 'SIGNATURE_INVALID'])

interface Session {
  peer: PeerId
  out: LengthPrefixedStream<Stream> | undefined
  opening: Promise<void> | undefined
  queue: Uint8Array[]
  pumping: boolean
  known: Map<string, number>
  wants: Map<string, number>
  strikes: number
  closed: boolean
  /** Highest own seq pushed to the peer; the highest its vector acknowledged; the seq a SYNC is waiting to see acknowledged (0: none). */
  pushed: number
  acked: number
  syncing: number
}

class Libp2pFederationTransport implements FederationTransport {
  readonly peerId: string
  private readonly c: FederationTransportComponents
  private readonly listen: string[]
  private readonly bootstrap: string[]
  private readonly extraDials = new Set<string>()
  private readonly maxFrame: number
  private readonly interval: number
  private readonly pullBatch: number
  private readonly maxStrikes: number
  private readonly banMs: number
  private node: Libp2p | undefined
  private timer: ReturnType<typeof setInterval> | undefined
  private readonly sessions = new Map<string, Session>()
  private readonly banned = new Map<string, number>()
  private blocked = false
  private lastPush = Number.NEGATIVE_INFINITY
  // While set, frames queue without starting the pump, so several go out in one write.
  private corked = false
  private readonly burstWindowMs: number
  private counters = { framesIn: 0, framesOut: 0, dropped: 0 }

  constructor (components: FederationTransportComponents, init: FederationTransportInit) {
    this.c = components
    this.peerId = components.identity.peerId
    this.listen = init.listen ?? ['/ip4/127.0.0.1/tcp/0']
    this.bootstrap = init.bootstrap ?? []
    // Frames up to twice the bundle limit are read so an oversized bundle gets a verdict; longer ones drop the peer.
    this.maxFrame = 2 * (init.maxBundleBytes ?? DEFAULT_MAX_BUNDLE_BYTES) + 1
    this.interval = init.antiEntropyIntervalMs ?? 1000
    this.pullBatch = init.pullBatch ?? 1024
    this.maxStrikes = init.maxStrikes ?? 16
    this.banMs = init.banMs ?? 10_000
    this.burstWindowMs = init.burstWindowMs ?? 2
  }

  async start (): Promise<void> {
    const isBanned = (peer: PeerId): boolean => {
      const until = this.banned.get(peer.toString())
      return until !== undefined && until > Date.now()
    }
    this.node = await createLibp2p({
      privateKey: this.c.identity.libp2pKey,
      addresses: { listen: this.listen },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
      connectionGater: {
        denyDialMultiaddr: () => this.blocked,
        denyDialPeer: peer => this.blocked || isBanned(peer),
        denyInboundConnection: () => this.blocked,
        denyInboundEncryptedConnection: peer => this.blocked || isBanned(peer)
      }
    })
    await this.node.handle(FEDERATION_PROTOCOL, (stream, connection) => {
      void this.readLoop(stream, connection.remotePeer)
    }, { maxInboundStreams: 8, maxOutboundStreams: 8 })
    this.node.addEventListener('peer:connect', evt => { this.session(evt.detail) })
    this.node.addEventListener('peer:disconnect', evt => { this.closeSession(evt.detail.toString()) })
    this.c.replica.onBundle((bytes, bundle, from) => {
      // Push only what this node originated; other origins' bundles travel by pull
      // (vectors every interval), so a full mesh sees each bundle once, not once per relay.
      if (from !== null || bundle.origin !== this.peerId) return
      for (const s of this.sessions.values()) {
        if ((s.known.get(bundle.origin) ?? 0) >= bundle.seq) continue
        s.known.set(bundle.origin, bundle.seq)
        s.pushed = Math.max(s.pushed, bundle.seq)
        this.lastPush = performance.now()
        this.send(s, encodeFrame(FRAME.BUNDLE, bytes))
      }
    })
    // Group commit (Nagle): a write right after a push (a burst) waits in the replica's outbox while the
    // peers catch up (a SYNC answered by their vector) or a send is in flight; the outbox is flushed then.
    this.c.replica.setSendGate(() => this.gateOpen())
    this.c.replica.onWant((origin, fromSeq, from) => {
      const targets = from !== null && this.sessions.has(from) ? [this.sessions.get(from) as Session] : [...this.sessions.values()]
      for (const s of targets) this.want(s, origin, fromSeq)
    })
    this.c.replica.onRevocation((r, from) => {
      const frame = encodeFrame(FRAME.REVOCATION, canonicalize(r))
      for (const s of this.sessions.values()) if (s.peer.toString() !== from) this.send(s, frame)
    })
    await this.node.start()
    this.timer = setInterval(() => { this.tick() }, this.interval)
    this.timer.unref?.()
    this.tick()
  }

  private tick (): void {
    if (this.node === undefined) return
    if (!this.blocked) {
      for (const addr of [...this.bootstrap, ...this.extraDials]) {
        void this.node.dial(multiaddr(addr)).catch(() => undefined)
      }
    }
    for (const peer of this.node.getPeers()) this.session(peer)
    for (const s of this.sessions.values()) this.hello(s)
  }

  private session (peer: PeerId): Session {
    const key = peer.toString()
    let s = this.sessions.get(key)
    if (s === undefined) {
      s = { peer, out: undefined, opening: undefined, queue: [], pumping: false, known: new Map(), wants: new Map(), strikes: 0, closed: false, pushed: 0, acked: 0, syncing: 0 }
      this.sessions.set(key, s)
      this.hello(s)
      for (const r of this.c.replica.revocations()) this.send(s, encodeFrame(FRAME.REVOCATION, canonicalize(r)))
    }
    return s
  }

  private closeSession (key: string): void {
    const s = this.sessions.get(key)
    if (s === undefined) return
    s.closed = true
    this.sessions.delete(key)
    void s.out?.unwrap().close().catch(() => undefined)
  }

  private hello (s: Session): void {
    this.send(s, encodeFrame(FRAME.HELLO, JSON.stringify({ vector: this.c.replica.vector() })))
  }

  private want (s: Session, origin: string, from: number): void {
    const key = `${origin}:${from}`
    const last = s.wants.get(key)
    const now = Date.now()
    if (last !== undefined && now - last < this.interval / 2) return
    s.wants.set(key, now)
    if (s.wants.size > 10_000) s.wants.clear()
    this.send(s, encodeFrame(FRAME.WANT, JSON.stringify({ origin, from, max: this.pullBatch })))
  }

  private send (s: Session, frame: Uint8Array): void {
    if (s.closed) return
    s.queue.push(frame)
    if (!s.pumping && !this.corked) void this.pump(s)
  }

  private async pump (s: Session): Promise<void> {
    s.pumping = true
    try {
      while (s.queue.length > 0 && !s.closed) {
        if (s.out === undefined) {
          if (this.node === undefined) return
          const stream = await this.node.dialProtocol(s.peer, FEDERATION_PROTOCOL)
          s.out = lpStream(stream, { maxDataLength: this.maxFrame })
        }
        const batch = s.queue.splice(0, 256)
        await s.out.writeV(batch)
        this.counters.framesOut += batch.length
      }
    } catch {
      // The stream or connection failed: forget it; the next tick reopens a session.
      this.closeSession(s.peer.toString())
    } finally {
      s.pumping = false
    }
    this.maybeFlush()
  }

  private sending (): boolean {
    for (const s of this.sessions.values()) if (s.pumping || s.acked < s.syncing) return true
    return false
  }

  // Open unless a send is in flight or a write follows a push within the burst window: then every peer
  // behind on our bundles is asked for its vector (SYNC), and writes coalesce until they answer.
  private gateOpen (): boolean {
    if (this.sending()) return false
    if (performance.now() - this.lastPush >= this.burstWindowMs) return true
    for (const s of this.sessions.values()) {
      if (s.acked >= s.pushed) continue
      s.syncing = s.pushed
      this.send(s, encodeFrame(FRAME.SYNC, ''))
    }
    return !this.sending()
  }

  // Seals the writes that waited. They came in a burst, so each peer is asked for its vector again (SYNC)
  // in the same write as the bundles, and the next writes wait for that answer.
  private maybeFlush (): void {
    if (this.c.replica.pending() === 0 || this.sending()) return
    this.corked = true
    try {
      this.c.replica.flush()
    } finally {
      this.corked = false
    }
    for (const s of this.sessions.values()) {
      if (s.acked < s.pushed) {
        s.syncing = s.pushed
        this.send(s, encodeFrame(FRAME.SYNC, ''))
      }
      if (!s.pumping && s.queue.length > 0) void this.pump(s)
    }
  }

  private async readLoop (stream: Stream, peer: PeerId): Promise<void> {
    const key = peer.toString()
    const lp = lpStream(stream, { maxDataLength: this.maxFrame })
    try {
      for (;;) {
        const buf = await lp.read()
        this.counters.framesIn++
        const frame = decodeFrame(buf.subarray())
        if (frame === undefined) {
          await this.drop(peer)
          return
        }
        const s = this.session(peer)
        switch (frame.type) {
          case 'hello': {
            const mineAll = this.c.replica.vector()
            for (const [origin, seq] of Object.entries(frame.hello.vector)) {
              s.known.set(origin, Math.max(s.known.get(origin) ?? 0, seq))
              const mine = mineAll[origin] ?? 0
              if (seq > mine) this.want(s, origin, mine + 1)
            }
            const acked = frame.hello.vector[this.peerId] ?? 0
            if (acked > s.acked) s.acked = acked
            if (s.syncing !== 0 && s.acked >= s.syncing) s.syncing = 0
            this.maybeFlush()
            break
          }
          case 'want': {
            const { origin, from, max } = frame.want
            const items = this.c.replica.bundleRange(origin, from, Math.min(max, this.pullBatch))
            for (const bytes of items) this.send(s, encodeFrame(FRAME.BUNDLE, bytes))
            if (items.length > 0) s.known.set(origin, Math.max(s.known.get(origin) ?? 0, from + items.length - 1))
            break
          }
          case 'bundle': {
            const v = this.c.replica.receive(frame.bytes, key)
            if (v.origin !== null && v.seq !== null && v.reason !== 'SIGNATURE_INVALID') s.known.set(v.origin, Math.max(s.known.get(v.origin) ?? 0, v.seq))
            if (v.reason !== null && STRIKE_REASONS.has(v.reason) && ++s.strikes >= this.maxStrikes) {
              await this.drop(peer)
              return
            }
            break
          }
          case 'sync':
            // Everything this peer sent before has been processed: answer with our vector.
            this.hello(s)
            break
          case 'revocation':
            if (this.c.replica.receiveRevocation(frame.bytes, key) === 'malformed' && ++s.strikes >= this.maxStrikes) {
              await this.drop(peer)
              return
            }
            break
        }
      }
    } catch (err) {
      // A stream that ends or resets is normal; an over-long or garbled length prefix is garbage.
      if (err instanceof Error && GARBAGE_ERRORS.has(err.name)) await this.drop(peer).catch(() => undefined)
    }
  }

  private async drop (peer: PeerId): Promise<void> {
    this.counters.dropped++
    this.banned.set(peer.toString(), Date.now() + this.banMs)
    this.closeSession(peer.toString())
    await this.node?.hangUp(peer).catch(() => undefined)
  }

  async stop (): Promise<void> {
    if (this.timer !== undefined) clearInterval(this.timer)
    this.c.replica.setSendGate(() => true)
    for (const key of [...this.sessions.keys()]) this.closeSession(key)
    await this.node?.stop()
  }

  addresses (): string[] {
    return this.node?.getMultiaddrs().map(a => a.toString()) ?? []
  }

  peers (): PeerStatus[] {
    return [...this.sessions.values()]
      .map(s => ({ peerId: s.peer.toString(), vector: Object.fromEntries([...s.known].sort(([a], [b]) => (a < b ? -1 : 1))) }))
      .sort((a, b) => (a.peerId < b.peerId ? -1 : 1))
  }

  async disconnect (): Promise<void> {
    this.blocked = true
    const node = this.node
    if (node === undefined) return
    for (const key of [...this.sessions.keys()]) this.closeSession(key)
    await Promise.all(node.getConnections().map(async c => { await c.close().catch(() => { c.abort(new Error('partition')) }) }))
  }

  async reconnect (): Promise<void> {
    this.blocked = false
    this.tick()
  }

  async dial (addr: string): Promise<void> {
    this.extraDials.add(addr)
    await this.node?.dial(multiaddr(addr))
  }

  stats (): { framesIn: number, framesOut: number, dropped: number } {
    return { ...this.counters }
  }
}

/**
 * Creates the libp2p transport of a replica (TCP, noise, yamux, identify; the
 * node key is the peer id).
 *
 * @example
 * const t = createFederationTransport({ identity, replica }, { listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [addrOfB] })
 * await t.start()
 */
export function createFederationTransport (components: FederationTransportComponents, init: FederationTransportInit = {}): FederationTransport {
  return new Libp2pFederationTransport(components, init)
}
