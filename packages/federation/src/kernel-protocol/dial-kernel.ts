import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import type { Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { HelloResult } from './kernel-protocol-server.ts'
import { AttachError, DEFAULT_MAX_RESPONSE_FRAME, encodeJsonFrame, KERNEL_PROTOCOL, ResponseFrameSchema } from './wire.ts'
import type { KernelOp } from './wire.ts'

export interface DialKernelInit {
  /** The shell's Ed25519 key: its peer id is the attached principal. */
  privateKey: PrivateKey
  /** Largest response frame read, bytes (default 32 MiB). */
  maxResponseFrame?: number
  /** Gives up dialing after this many ms (default 10000). */
  dialTimeoutMs?: number
  /** Reuse this libp2p node instead of creating one (it is not stopped by `close()`). */
  libp2p?: Libp2p
}

/** One attached session: a libp2p stream speaking `/os2/kernel/1.0.0`. */
export interface KernelClient {
  /** What the node said on `hello`: principal, genesis, public key, ledger head. */
  readonly hello: HelloResult
  /** The libp2p node the session runs on (for a raw request on the same connection). */
  readonly libp2p: Libp2p
  /** The node's multiaddr as dialed. */
  readonly address: string
  /** Calls one operation; rejects with an `AttachError` carrying the node's error code. */
  call<T = unknown>(op: KernelOp, args?: Record<string, unknown>): Promise<T>
  /** Sends raw bytes as one frame and resolves to the next raw answer (tests of bad frames). */
  raw(frame: Uint8Array): Promise<unknown>
  /** Closes the stream (and the libp2p node unless it was passed in). */
  close(): Promise<void>
}

/**
 * Dials a node's kernel protocol at `address` (a multiaddr with `/p2p/<peer id>`,
 * or without: noise still authenticates the node, but its identity is not pinned)
 * and says `hello`. Rejects with `ATTACH_DENIED` when the key holds no grant.
 *
 * @example
 * const client = await dialKernel('/ip4/127.0.0.1/tcp/4001/p2p/12D3Koo…', { privateKey })
 * const view = await client.call('view')
 */
export async function dialKernel (address: string, init: DialKernelInit): Promise<KernelClient> {
  const owned = init.libp2p === undefined
  const node = init.libp2p ?? await createLibp2p({
    privateKey: init.privateKey,
    addresses: { listen: [] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()]
  })
  try {
    const ma = multiaddr(address)
    const stream = await node.dialProtocol(ma, KERNEL_PROTOCOL, { signal: AbortSignal.timeout(init.dialTimeoutMs ?? 10_000) })
    const client = new Client(node, owned, address, stream, init.maxResponseFrame ?? DEFAULT_MAX_RESPONSE_FRAME)
    await client.start()
    return client
  } catch (err) {
    if (owned) await Promise.resolve(node.stop()).catch(() => undefined)
    if (err instanceof AttachError) throw err
    throw new AttachError('CONNECTION_CLOSED', `Cannot attach to ${address}: ${(err as Error).message}`, { cause: err })
  }
}

interface Pending { resolve: (v: unknown) => void, reject: (e: Error) => void }

class Client implements KernelClient {
  hello!: HelloResult
  readonly libp2p: Libp2p
  readonly address: string
  readonly #owned: boolean
  readonly #stream: Stream
  readonly #lp: LengthPrefixedStream<Stream>
  readonly #pending = new Map<number, Pending>()
  /** Answers with id null (bad frames) resolve the oldest raw waiter. */
  readonly #rawWaiters: Pending[] = []
  #next = 1
  #closed: Error | undefined
  #writing: Promise<void> = Promise.resolve()

  constructor (node: Libp2p, owned: boolean, address: string, stream: Stream, maxFrame: number) {
    this.libp2p = node
    this.#owned = owned
    this.address = address
    this.#stream = stream
    this.#lp = lpStream(stream, { maxDataLength: maxFrame })
  }

  async start (): Promise<void> {
    void this.#readLoop()
    this.hello = await this.call<HelloResult>('hello')
  }

  async #readLoop (): Promise<void> {
    try {
      for (;;) {
        const buf = await this.#lp.read()
        let frame
        try {
          frame = ResponseFrameSchema.parse(JSON.parse(Buffer.from(buf.subarray()).toString('utf8')))
        } catch (err) {
          throw new AttachError('BAD_RESPONSE', `The node sent an unreadable frame: ${(err as Error).message}`)
        }
        const raw = this.#rawWaiters.shift()
        if (raw !== undefined) { raw.resolve(frame); continue }
        if (frame.id === null) continue
        const waiter = this.#pending.get(frame.id)
        if (waiter === undefined) continue
        this.#pending.delete(frame.id)
        if (frame.ok) waiter.resolve(frame.result)
        else waiter.reject(new AttachError(frame.error.code, frame.error.message))
      }
    } catch (err) {
      this.#fail(err instanceof AttachError ? err : new AttachError('CONNECTION_CLOSED', `Attached session to ${this.address} ended: ${(err as Error).message ?? 'stream closed'}`, { cause: err }))
    }
  }

  #fail (err: Error): void {
    if (this.#closed === undefined) this.#closed = err
    for (const p of this.#pending.values()) p.reject(this.#closed)
    this.#pending.clear()
    for (const p of this.#rawWaiters.splice(0)) p.reject(this.#closed)
  }

  #send (bytes: Uint8Array): void {
    this.#writing = this.#writing.then(async () => { await this.#lp.write(bytes) }).catch((err: unknown) => {
      this.#fail(new AttachError('CONNECTION_CLOSED', `Cannot write to ${this.address}: ${(err as Error).message}`, { cause: err }))
    })
  }

  async call<T = unknown> (op: KernelOp, args?: Record<string, unknown>): Promise<T> {
    if (this.#closed !== undefined) throw this.#closed
    const id = this.#next++
    const result = new Promise<unknown>((resolve, reject) => { this.#pending.set(id, { resolve, reject }) })
    this.#send(encodeJsonFrame(args === undefined ? { id, op } : { id, op, args }))
    return await result as T
  }

  async raw (frame: Uint8Array): Promise<unknown> {
    if (this.#closed !== undefined) throw this.#closed
    const result = new Promise<unknown>((resolve, reject) => { this.#rawWaiters.push({ resolve, reject }) })
    this.#send(frame)
    return await result
  }

  async close (): Promise<void> {
    this.#fail(new AttachError('CONNECTION_CLOSED', 'The attached session is closed'))
    await this.#stream.close().catch(() => { this.#stream.abort(new Error('closed')) })
    if (this.#owned) await this.libp2p.stop()
  }
}
