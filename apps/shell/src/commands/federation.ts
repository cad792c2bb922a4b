import { rmSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { hashCanonical } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'
import type { FederationTransport } from '@os2/federation'
import type { FederationControl, OpenedDataDir } from '../backend.ts'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { describeError, ShellError } from '../errors.ts'
import { withKernel } from '../with-kernel.ts'
import { askServer, controlSocketPath, runMemoryToken } from './memory.ts'
import type { MemoryRequest } from './memory.ts'

/** What `os2 federation status` reports. */
export interface FederationStatus {
  serving: boolean
  peerId: string
  operator: string
  addrs: string[]
  peers: Array<{ peerId: string, vector: Record<string, number> }>
  /** Last decided seq per origin. */
  vector: Record<string, number>
  held: number
  /** hashCanonical of every memory's canonical state: equal hashes mean converged replicas. */
  memoriesHash: string
  memories: number
  ledger: { size: number, head: string }
}

function federationOf (opened: OpenedDataDir): FederationControl {
  if (opened.federation === undefined) throw new ShellError('INTERNAL', 'This backend has no federation')
  return opened.federation
}

async function statusOf (opened: OpenedDataDir, transport: FederationTransport | undefined): Promise<FederationStatus> {
  const { replica, identity } = await federationOf(opened).open()
  const memories = replica.memories.canonicalAll()
  return {
    serving: transport !== undefined,
    peerId: identity.peerId,
    operator: opened.genesis.operator,
    addrs: transport?.addresses() ?? [],
    peers: transport?.peers() ?? [],
    vector: replica.vector(),
    held: replica.heldCount(),
    memoriesHash: hashCanonical(memories as CanonicalValue),
    memories: Object.keys(memories).length,
    ledger: { size: opened.kernel.ledger.size, head: opened.kernel.ledger.head }
  }
}

/** The status from the serve process holding the data dir, or from the data dir itself. */
async function readStatus (ctx: CommandContext): Promise<FederationStatus> {
  const served = await askServer(ctx.dataDir, { op: 'status' })
  if (served !== undefined) return served as FederationStatus
  return await withKernel(ctx, async opened => await statusOf(opened, undefined))
}

/** `os2 federation status`: peer id, sequence vector, peers and a hash of the memories. */
export async function federationStatusCommand (ctx: CommandContext): Promise<ExitCode> {
  const s = await readStatus(ctx)
  if (ctx.out.json) {
    ctx.out.document(s)
    return 0
  }
  ctx.out.fields([
    ['peer id', s.peerId],
    ['operator', s.operator],
    ['serving', s.serving],
    ['listening', s.addrs.join(' ') || '-'],
    ['peers', s.peers.length],
    ['held bundles', s.held],
    ['memories', s.memories],
    ['memories hash', s.memoriesHash],
    ['ledger', `${s.ledger.size} events, head ${s.ledger.head.slice(0, 16)}`]
  ])
  const origins = Object.entries(s.vector)
  if (origins.length > 0) ctx.out.table(['origin', 'last seq'], origins)
  return 0
}

/** `os2 federation peers`: connected peers of the serve process and their sequence vectors. */
export async function federationPeersCommand (ctx: CommandContext): Promise<ExitCode> {
  const s = await readStatus(ctx)
  if (ctx.out.json) {
    ctx.out.document({ serving: s.serving, peers: s.peers })
    return 0
  }
  if (!s.serving) ctx.out.line('not serving: start `os2 federation serve` to connect to peers')
  ctx.out.table(['peer', 'origins known', 'bundles known'], s.peers.map(p => [p.peerId, Object.keys(p.vector).length, Object.values(p.vector).reduce((a, b) => a + b, 0)]))
  return 0
}

/** Answers JSON-line requests on the control socket: `{ op: 'status' }` and `{ op: 'token', capability, args, principal? }`. */
function serveControl (path: string, handle: (req: Record<string, unknown>) => Promise<unknown>): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let buffer = ''
    socket.setEncoding('utf8')
    socket.on('error', () => undefined)
    socket.on('data', (chunk: string) => {
      buffer += chunk
      let nl: number
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + 1)
        let req: Record<string, unknown>
        try {
          req = JSON.parse(line) as Record<string, unknown>
        } catch {
          socket.write(JSON.stringify({ ok: false, error: { code: 'BAD_REQUEST', message: 'Cannot parse control request: not JSON' } }) + '\n')
          continue
        }
        handle(req).then(
          result => { socket.write(JSON.stringify({ ok: true, result }) + '\n') },
          (err: unknown) => { socket.write(JSON.stringify({ ok: false, error: describeError(err) }) + '\n') }
        )
      }
    })
  })
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(path, () => { server.off('error', reject); resolve(server) })
  })
}

/**
 * `os2 federation serve --listen <multiaddr>… --peer <multiaddr>…`: runs this
 * data dir's federation node in the foreground until SIGTERM or SIGINT:
 * kernel, replica and libp2p transport, verdicts into the ledger. `os2 memory`
 * and `os2 federation status|peers` reach it through
 * `<data-dir>/federation/control.sock` while it holds the data dir.
 */
export async function federationServeCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const listen = (opts.listen as string[] | undefined) ?? ['/ip4/127.0.0.1/tcp/0']
  const bootstrap = (opts.peer as string[] | undefined) ?? []
  const interval = typeof opts.intervalMs === 'number' ? opts.intervalMs : 500
  const { createFederationTransport } = await import('@os2/federation')
  const opened = await ctx.backend.open(ctx.dataDir)
  let transport: FederationTransport | undefined
  let server: Server | undefined
  const socketPath = controlSocketPath(ctx.dataDir)
  try {
    const fed = await federationOf(opened).open()
    transport = createFederationTransport({ identity: fed.identity, replica: fed.replica }, { listen, bootstrap, antiEntropyIntervalMs: interval })
    await transport.start()
    const running = transport
    // A socket left by a killed serve process: we hold the data dir lock, so it is stale.
    rmSync(socketPath, { force: true })
    server = await serveControl(socketPath, async req => {
      if (req.op === 'status') return await statusOf(opened, running)
      if (req.op === 'token') return await runMemoryToken(opened, req as unknown as MemoryRequest)
      throw new ShellError('BAD_REQUEST', `Unknown control op ${JSON.stringify(req.op)}`)
    })
    const ready = { event: 'ready', peerId: fed.identity.peerId, addrs: transport.addresses(), control: socketPath }
    if (ctx.out.json) ctx.out.jsonLine(ready)
    else ctx.out.line(`serving ${ready.peerId} on ${ready.addrs.join(' ')} (control ${socketPath}); SIGTERM or Ctrl-C stops`)
    await new Promise<void>(resolve => {
      const stop = (): void => { process.off('SIGTERM', stop); resolve() }
      process.once('SIGTERM', stop)
      if (ctx.io.signal.aborted) stop()
      ctx.io.signal.addEventListener('abort', stop, { once: true })
    })
    return 0
  } finally {
    await new Promise<void>(resolve => { if (server === undefined) resolve(); else server.close(() => { resolve() }) })
    rmSync(socketPath, { force: true })
    await transport?.stop().catch(() => undefined)
    await opened.kernel.close()
  }
}
