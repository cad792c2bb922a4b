import '../src/bin/polyfill.ts'
import { performance } from 'node:perf_hooks'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { generateKeyPair } from '@os2/crypto'
import { createGenesis, createKernel } from '@os2/kernel'
import { nodeIdentity } from '../src/identity.ts'
import { dialKernel, mountKernelProtocol } from '../src/kernel-protocol/index.ts'
import { encodeJsonFrame } from '../src/kernel-protocol/wire.ts'

/**
 * An attached shell's round trip for a small request, p50/p99, beside a raw
 * libp2p request/response (length-prefixed echo of a frame of the same size)
 * on the same connection. Three attached shapes: `ping` (protocol + per-frame
 * grant check, no kernel work), `handle ListSnapshots` (a small kernel request:
 * zod validation, the kernel lock, a ledger flush) and `view` (what the shell
 * reads after every command). Client and node share one process and one TCP
 * connection on loopback.
 */
const ECHO = '/os2/bench/echo/1.0.0'
const N = Number(process.env.N ?? 3000)
const WARMUP = 300

function stats (name: string, samples: number[], extra: Record<string, unknown> = {}): Record<string, unknown> {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number): number => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(4))
  return { bench: 'attach', name, n: samples.length, p50_ms: at(0.5), p99_ms: at(0.99), mean_ms: Number((samples.reduce((a, b) => a + b, 0) / samples.length).toFixed(4)), ...extra }
}

async function time (n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn()
  const out: number[] = []
  for (let i = 0; i < n; i++) {
    const t = performance.now()
    await fn()
    out.push(performance.now() - t)
  }
  return out
}

const shell = nodeIdentity(generateKeyPair())
const kernel = await createKernel({}, { genesis: createGenesis({ seed: 1 }) })
const server = await createLibp2p({
  privateKey: nodeIdentity(generateKeyPair()).libp2pKey,
  addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()]
})
await server.start()
await mountKernelProtocol(server, { kernel }, { operators: [shell.peerId] })
await server.handle(ECHO, async (stream) => {
  const lp = lpStream(stream)
  try {
    for (;;) await lp.write(await lp.read())
  } catch {
    // stream closed
  }
})
const address = server.getMultiaddrs()[0]?.toString() ?? ''
const client = await dialKernel(address, { privateKey: shell.libp2pKey })
// The raw baseline opens its stream on the connection the attached session already uses.
const raw = lpStream(await client.libp2p.dialProtocol(multiaddr(address), ECHO))
if (client.libp2p.getConnections().length !== 1) throw new Error('expected one connection for both protocols')

const pingFrame = encodeJsonFrame({ id: 1, op: 'ping' })
const handleFrame = encodeJsonFrame({ id: 1, op: 'handle', args: { request: { type: 'ListSnapshots' } } })
const rawPing = await time(N, async () => { await raw.write(pingFrame); await raw.read() })
const attachedPing = await time(N, async () => await client.call('ping'))
const rawHandleSized = await time(N, async () => { await raw.write(handleFrame); await raw.read() })
const attachedHandle = await time(N, async () => await client.call('handle', { request: { type: 'ListSnapshots' } }))
const attachedView = await time(Math.min(N, 1000), async () => await client.call('view'))

const rawP50 = stats('raw', rawPing).p50_ms as number
console.log(JSON.stringify(stats('raw libp2p echo, ping-sized frame', rawPing, { frame_bytes: pingFrame.length })))
console.log(JSON.stringify(stats('attached ping', attachedPing, { frame_bytes: pingFrame.length, p50_vs_raw: Number(((stats('x', attachedPing).p50_ms as number) / rawP50).toFixed(2)) })))
console.log(JSON.stringify(stats('raw libp2p echo, request-sized frame', rawHandleSized, { frame_bytes: handleFrame.length })))
console.log(JSON.stringify(stats('attached handle ListSnapshots', attachedHandle, { frame_bytes: handleFrame.length, p50_vs_raw: Number(((stats('x', attachedHandle).p50_ms as number) / (stats('x', rawHandleSized).p50_ms as number)).toFixed(2)) })))
console.log(JSON.stringify(stats('attached view (state read after each command)', attachedView)))

await client.close()
await server.stop()
await kernel.close()
