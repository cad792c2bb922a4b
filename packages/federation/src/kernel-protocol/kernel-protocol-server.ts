import { lpStream } from '@libp2p/utils'
import { KernelRequest, replayLedger } from '@os2/kernel'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { CanonicalValue } from '@os2/crypto'
import type { AnyCapabilityDescriptor, EventEnvelope, Kernel, KernelRequest as KernelRequestType } from '@os2/kernel'
import {
  ATTACH_CAPABILITY, AttachError, DEFAULT_MAX_REQUEST_FRAME, encodeJsonFrame, KERNEL_PROTOCOL, MAX_EVENTS_PER_CALL, OP_ARGS, RequestFrame
} from './wire.ts'
import type { KernelOp, ResponseFrame } from './wire.ts'

/** What the node serves: its kernel, plus a way to leave a trace of refusals in its ledger. */
export type ServedKernel = Kernel & { recordAlert(payload: Record<string, CanonicalValue>): Promise<EventEnvelope> }

export interface KernelProtocolComponents {
  kernel: ServedKernel
}

export interface KernelProtocolInit {
  /**
   * Peer ids that act as the kernel's operator (`genesis.operator`) when attached,
   * without needing a grant (the node config's operator keys). Default: none.
   * The node's own key cannot be one: libp2p refuses to dial itself.
   */
  operators?: readonly string[]
  /** The node's public key (base64url), returned by `hello` so `snapshot-verify` works attached. */
  publicKey?: string
  /** Extra capability descriptors, for `replayLedger` (the sandbox's). */
  descriptors?: readonly AnyCapabilityDescriptor[]
  /** Largest request frame read, bytes (default 1 MiB). */
  maxRequestFrame?: number
  /** A refused principal is recorded in the ledger at most once per this many ms (default 1000). */
  refusalRecordIntervalMs?: number
  /** Concurrent attached streams (default 32). */
  maxStreams?: number
}

export interface KernelProtocolStats {
  requests: number
  refused: number
  badFrames: number
  streams: number
}

export interface MountedKernelProtocol {
  readonly stats: KernelProtocolStats
  /** Stops serving new streams and closes the open ones. */
  unmount(): Promise<void>
}

/** Who is attached on one stream. */
interface Caller { principal: string, operator: boolean }

/** The response of `hello`. */
export interface HelloResult {
  /** The attached principal: the shell's peer id, or the genesis operator when the shell holds an operator key. */
  principal: string
  peerId: string
  operator: boolean
  /** The node's peer id. */
  node: string
  genesis: Kernel['genesis']
  publicKey: string | null
  ledger: { size: number, head: string }
}

function errorFrame (id: number | null, code: string, message: string): ResponseFrame {
  return { id, ok: false, error: { code, message } }
}

/** The last tick recorded in the ledger: the clock as far as grants are concerned. */
function currentTick (kernel: Kernel): number {
  const size = kernel.ledger.size
  return size === 0 ? 0 : kernel.ledger.get(size - 1)?.tick ?? 0
}

/**
 * Serves the kernel protocol (`/os2/kernel/1.0.0`) on `libp2p`. Each stream
 * carries length-prefixed JSON frames `{ id, op, args }`, answered in order
 * with `{ id, ok, result | error }`.
 *
 * Authentication is libp2p's: the noise handshake proves the remote peer id,
 * which IS the shell's Ed25519 key, and that peer id string is the attached
 * principal. Authorization is checked on every frame: a principal listed in
 * `operators` acts as the kernel operator; any other needs an unrevoked,
 * currently valid `operator.attach` grant, so a revocation takes effect at
 * the next frame. A refusal is answered `ATTACH_DENIED`, recorded in the
 * ledger as an `alert { reason: 'attach_refused' }`, and the stream is closed.
 * Requests submitted by a non-operator act as that principal: `from` defaults
 * to it and a token's `principal` must equal it (`PRINCIPAL_MISMATCH`).
 *
 * @example
 * const mounted = await mountKernelProtocol(libp2p, { kernel }, { publicKey })
 */
export async function mountKernelProtocol (libp2p: Libp2p, components: KernelProtocolComponents, init: KernelProtocolInit = {}): Promise<MountedKernelProtocol> {
  const server = new KernelProtocolServer(libp2p, components, init)
  await libp2p.handle(KERNEL_PROTOCOL, (stream, connection) => {
    void server.serve(stream, connection.remotePeer)
  }, { maxInboundStreams: init.maxStreams ?? 32 })
  return server
}

class KernelProtocolServer implements MountedKernelProtocol {
  readonly stats: KernelProtocolStats = { requests: 0, refused: 0, badFrames: 0, streams: 0 }
  readonly #libp2p: Libp2p
  readonly #kernel: ServedKernel
  readonly #operators: Set<string>
  readonly #publicKey: string | null
  readonly #descriptors: readonly AnyCapabilityDescriptor[]
  readonly #maxFrame: number
  readonly #refusalInterval: number
  readonly #lastRefusal = new Map<string, number>()
  readonly #open = new Set<Stream>()

  constructor (libp2p: Libp2p, components: KernelProtocolComponents, init: KernelProtocolInit) {
    this.#libp2p = libp2p
    this.#kernel = components.kernel
    this.#operators = new Set(init.operators ?? [])
    this.#publicKey = init.publicKey ?? null
    this.#descriptors = init.descriptors ?? []
    this.#maxFrame = init.maxRequestFrame ?? Math.max(DEFAULT_MAX_REQUEST_FRAME, 2 * components.kernel.genesis.limits.maxRequestBytes)
    this.#refusalInterval = init.refusalRecordIntervalMs ?? 1000
  }

  async unmount (): Promise<void> {
    await this.#libp2p.unhandle(KERNEL_PROTOCOL)
    await Promise.all([...this.#open].map(async s => { await s.close().catch(() => { s.abort(new Error('unmounted')) }) }))
  }

  async serve (stream: Stream, peer: PeerId): Promise<void> {
    this.stats.streams++
    this.#open.add(stream)
    const lp = lpStream(stream, { maxDataLength: this.#maxFrame })
    const peerId = peer.toString()
    try {
      for (;;) {
        let buf
        try {
          buf = await lp.read()
        } catch (err) {
          const name = (err as Error).name
          if (name === 'InvalidDataLengthError' || name === 'InvalidDataLengthLengthError' || name === 'InvalidMessageLengthError') {
            this.stats.badFrames++
            await this.#reply(lp, errorFrame(null, 'FRAME_TOO_LARGE', `Frame is longer than ${this.#maxFrame} bytes: closing the stream`))
            await stream.close().catch(() => undefined)
          }
          return
        }
        const answer = await this.#answer(buf.subarray(), peerId)
        await this.#reply(lp, answer.frame)
        if (answer.close) {
          await stream.close().catch(() => undefined)
          return
        }
      }
    } catch {
      stream.abort(new Error('kernel protocol stream failed'))
    } finally {
      this.#open.delete(stream)
    }
  }

  async #reply (lp: LengthPrefixedStream<Stream>, frame: ResponseFrame): Promise<void> {
    let bytes: Uint8Array
    try {
      bytes = encodeJsonFrame(frame)
    } catch (err) {
      bytes = encodeJsonFrame(errorFrame(frame.id, 'OP_FAILED', `Cannot encode the result: ${(err as Error).message}`))
    }
    await lp.write(bytes)
  }

  async #answer (bytes: Uint8Array, peerId: string): Promise<{ frame: ResponseFrame, close: boolean }> {
    let json: unknown
    try {
      json = JSON.parse(Buffer.from(bytes).toString('utf8'))
    } catch {
      this.stats.badFrames++
      return { frame: errorFrame(null, 'BAD_FRAME', 'Frame is not JSON: expected {"id", "op", "args"}'), close: false }
    }
    const parsed = RequestFrame.safeParse(json)
    if (!parsed.success) {
      this.stats.badFrames++
      const rawId = (json as { id?: unknown } | null)?.id
      const id = typeof rawId === 'number' && Number.isSafeInteger(rawId) && rawId >= 0 ? rawId : null
      const issue = parsed.error.issues[0]
      return { frame: errorFrame(id, 'BAD_FRAME', `Frame is not {"id", "op", "args"}: ${issue === undefined ? 'invalid' : `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`}`), close: false }
    }
    const { id, op } = parsed.data
    this.stats.requests++
    const caller = this.#authorize(peerId)
    if (caller === undefined) {
      this.stats.refused++
      await this.#recordRefusal(peerId, op)
      return { frame: errorFrame(id, 'ATTACH_DENIED', `Principal ${peerId} holds no valid ${ATTACH_CAPABILITY} grant on this node`), close: true }
    }
    if (!Object.hasOwn(OP_ARGS, op)) return { frame: errorFrame(id, 'UNKNOWN_OP', `Unknown operation ${JSON.stringify(op)}: expected one of ${Object.keys(OP_ARGS).join(', ')}`), close: false }
    const schema = OP_ARGS[op as KernelOp]
    const args = schema.safeParse(parsed.data.args)
    if (!args.success) {
      const issue = args.error.issues[0]
      return { frame: errorFrame(id, 'BAD_ARGS', `Invalid arguments for ${op}: ${issue === undefined ? 'invalid' : `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`}`), close: false }
    }
    try {
      const result = await this.#run(op as KernelOp, (args.data ?? {}) as Record<string, unknown>, caller, peerId)
      return { frame: { id, ok: true, result: result ?? null }, close: false }
    } catch (err) {
      if (err instanceof AttachError) return { frame: errorFrame(id, err.code, err.message), close: false }
      const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'OP_FAILED'
      return { frame: errorFrame(id, code, (err as Error).message ?? String(err)), close: false }
    }
  }

  /** The caller behind `peerId`, or undefined when it may not attach (checked on every frame). */
  #authorize (peerId: string): Caller | undefined {
    if (this.#operators.has(peerId)) return { principal: this.#kernel.genesis.operator, operator: true }
    const tick = currentTick(this.#kernel)
    const held = this.#kernel.grants().some(g => g.principal === peerId && g.capability === ATTACH_CAPABILITY && !g.revoked &&
      g.validFrom <= tick && (g.validUntil === null || tick < g.validUntil))
    return held ? { principal: peerId, operator: false } : undefined
  }

  async #recordRefusal (peerId: string, op: string): Promise<void> {
    const now = Date.now()
    const last = this.#lastRefusal.get(peerId)
    if (last !== undefined && now - last < this.#refusalInterval) return
    this.#lastRefusal.set(peerId, now)
    if (this.#lastRefusal.size > 10_000) this.#lastRefusal.clear()
    await this.#kernel.recordAlert({
      reason: 'attach_refused',
      protocol: KERNEL_PROTOCOL,
      principal: peerId,
      capability: ATTACH_CAPABILITY,
      op: op.slice(0, 64)
    }).catch(() => undefined)
  }

  /** A request as the caller may send it: a non-operator acts as itself only. */
  async #asCaller (raw: unknown, caller: Caller, peerId: string): Promise<KernelRequestType> {
    const parsed = KernelRequest.safeParse(raw)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      throw new AttachError('BAD_ARGS', `Invalid kernel request: ${issue === undefined ? 'invalid' : `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`}`)
    }
    const req = parsed.data
    if (caller.operator) return req
    const mismatch = async (what: string, value: string): Promise<never> => {
      await this.#kernel.recordAlert({ reason: 'attach_principal_mismatch', protocol: KERNEL_PROTOCOL, principal: peerId, field: what, claimed: value.slice(0, 128) }).catch(() => undefined)
      throw new AttachError('PRINCIPAL_MISMATCH', `Attached as ${caller.principal}, the request's ${what} is ${value}`)
    }
    if (req.from !== undefined && req.from !== caller.principal) await mismatch('from', req.from)
    if (req.type === 'SubmitToken' && req.token.principal !== caller.principal) await mismatch('token.principal', req.token.principal)
    return { ...req, from: caller.principal }
  }

  async #run (op: KernelOp, args: Record<string, unknown>, caller: Caller, peerId: string): Promise<unknown> {
    const kernel = this.#kernel
    const operatorOnly = (): void => {
      if (!caller.operator) throw new AttachError('OPERATOR_ONLY', `Only the operator may ${op}; attached as ${caller.principal}`)
    }
    switch (op) {
      case 'hello': {
        const hello: HelloResult = {
          principal: caller.principal,
          peerId,
          operator: caller.operator,
          node: this.#libp2p.peerId.toString(),
          genesis: kernel.genesis,
          publicKey: this.#publicKey,
          ledger: { size: kernel.ledger.size, head: kernel.ledger.head }
        }
        return hello
      }
      case 'ping': return 'pong'
      case 'handle': return await kernel.handle(await this.#asCaller(args.request, caller, peerId))
      case 'step': return await kernel.step()
      case 'runUntilIdle': return await kernel.runUntilIdle()
      case 'view': return {
        capabilities: kernel.capabilities(),
        grants: kernel.grants(),
        tokens: kernel.tokens(),
        kv: kernel.kv(),
        stateHash: kernel.stateHash(),
        ledger: { size: kernel.ledger.size, head: kernel.ledger.head }
      }
      case 'events': {
        const from = args.from as number
        const size = kernel.ledger.size
        const to = Math.min(size, from + ((args.limit as number | undefined) ?? MAX_EVENTS_PER_CALL))
        return { events: from >= to ? [] : [...kernel.ledger.events(from, to)], size }
      }
      case 'verify': return kernel.ledger.verify()
      case 'replayLedger': return await replayLedger(kernel.ledger.events(), { genesis: kernel.genesis, descriptors: this.#descriptors })
      case 'snapshotCreate': {
        const res = await kernel.handle({ type: 'CreateSnapshot', from: caller.principal, ...(typeof args.label === 'string' ? { label: args.label } : {}) })
        return res
      }
      case 'snapshotList': return await kernel.snapshots.list()
      case 'snapshotShow': return await kernel.snapshots.show(args.id as string)
      case 'snapshotDiff': return await kernel.snapshots.diff(args.from as string, args.to as string)
      case 'snapshotReplay': return await kernel.snapshots.replay(args.id as string)
      case 'snapshotAuth': operatorOnly(); return await kernel.snapshots.auth(args.id as string)
      case 'snapshotReady': operatorOnly(); await kernel.snapshots.setReady(args.id as string); return null
    }
  }
}
