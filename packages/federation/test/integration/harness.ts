import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { keyPairFromSeed, saveKeyPair } from '@os2/crypto'
import { nodeIdentity } from '../../src/identity.ts'
import type { ChildProcess } from 'node:child_process'
import type { NodeIdentity } from '../../src/identity.ts'
import type { FederationGrant } from '../../src/policy/grant-book.ts'

const BIN = resolve(import.meta.dirname, '../../src/bin/federation-node.ts')

/** A free TCP port on 127.0.0.1 (bound, then released). */
export async function freePort (): Promise<number> {
  return await new Promise((resolvePort, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolvePort(port) })
    })
  })
}

/** Polls `cond` every 50 ms until it holds, failing after `timeoutMs` with `what`. */
export async function waitFor (what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(r => setTimeout(r, 50))
  }
}

export interface NodeSpec {
  name: string
  seed: number
  dataDir: string
  port: number
  identity: NodeIdentity
  addr: string
}

/** A federation node running in its own OS process, driven over its JSON-line control channel. */
export class NodeProcess {
  readonly spec: NodeSpec
  private child: ChildProcess | undefined
  private nextId = 1
  private readonly pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  stderr = ''

  constructor (spec: NodeSpec) {
    this.spec = spec
  }

  async start (args: { peers: string[], grantsFile: string, extra?: string[] }): Promise<void> {
    // FED_NODE_ARGS: extra Node.js flags for the node processes (e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile a bench).
    const nodeArgs = (process.env.FED_NODE_ARGS ?? '').split(' ').filter(a => a.length > 0)
    const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', BIN,
      '--data-dir', this.spec.dataDir,
      '--listen', `/ip4/127.0.0.1/tcp/${this.spec.port}`,
      '--grants', args.grantsFile,
      '--interval', '250',
      ...args.peers.flatMap(p => ['--peer', p]),
      ...(args.extra ?? [])
    ], { stdio: ['pipe', 'pipe', 'pipe'] })
    this.child = child
    child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000) })
    const ready = new Promise<void>((resolveReady, reject) => {
      child.once('exit', code => {
        reject(new Error(`Node ${this.spec.name} exited with ${String(code)}: ${this.stderr}`))
        for (const p of this.pending.values()) p.reject(new Error(`Node ${this.spec.name} exited`))
        this.pending.clear()
      })
      const rl = createInterface({ input: child.stdout! })
      rl.on('line', line => {
        let msg: { event?: string, id?: number, ok?: boolean, result?: unknown, error?: { message: string } }
        try {
          msg = JSON.parse(line) as typeof msg
        } catch {
          return
        }
        if (msg.event === 'ready') { resolveReady(); return }
        const p = this.pending.get(msg.id ?? -1)
        if (p === undefined) return
        this.pending.delete(msg.id ?? -1)
        if (msg.ok === true) p.resolve(msg.result)
        else p.reject(new Error(msg.error?.message ?? 'request failed'))
      })
    })
    await ready
  }

  async request<T = unknown> (op: string, args: Record<string, unknown> = {}): Promise<T> {
    const child = this.child
    if (child?.stdin === null || child === undefined) throw new Error(`Node ${this.spec.name} is not running`)
    const id = this.nextId++
    const result = new Promise<unknown>((resolveReq, reject) => { this.pending.set(id, { resolve: resolveReq, reject }) })
    child.stdin.write(JSON.stringify({ id, op, ...args }) + '\n')
    return await (result as Promise<T>)
  }

  async state (): Promise<{ memories: Record<string, unknown>, hash: string }> {
    return await this.request('state')
  }

  async verdicts (): Promise<Array<{ verdict: string, reason: string | null, origin: string | null, seq: number | null }>> {
    return await this.request('verdicts')
  }

  /** Kills the process with `signal` and waits for it to exit. */
  async kill (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const child = this.child
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise<void>(r => { child.once('exit', () => { r() }) })
    child.kill(signal)
    await exited
    this.child = undefined
  }
}

export interface Cluster {
  nodes: NodeProcess[]
  grantsFile: string
  start(node: NodeProcess, extra?: string[]): Promise<void>
  stop(): Promise<void>
}

/** Writes keys and a shared grants file for `names` and starts one process per node, each bootstrapping to all others. */
export async function startCluster (root: string, names: string[], opts: { grants?: (ids: NodeIdentity[]) => FederationGrant[], operatorKey: string, extra?: string[] }): Promise<Cluster> {
  const specs: NodeSpec[] = []
  for (const [i, name] of names.entries()) {
    const dataDir = join(root, name)
    mkdirSync(dataDir, { recursive: true })
    const seed = new Uint8Array(32).fill(40 + i)
    const kp = keyPairFromSeed(seed)
    await saveKeyPair(join(dataDir, 'node.key'), kp)
    const identity = nodeIdentity(kp)
    const port = await freePort()
    specs.push({ name, seed: 40 + i, dataDir, port, identity, addr: `/ip4/127.0.0.1/tcp/${port}/p2p/${identity.peerId}` })
  }
  const ids = specs.map(s => s.identity)
  const grants = opts.grants?.(ids) ?? ids.map((id, i) => ({
    id: `grant-${names[i] ?? i}`, principal: id.peerId, capability: 'memory.federate', scope: { namespaces: ['*'] },
    validFrom: 0, validUntil: null, version: 1, revoked: false, issuer: opts.operatorKey
  }))
  const grantsFile = join(root, 'grants.json')
  writeFileSync(grantsFile, JSON.stringify({ grants }))
  const nodes = specs.map(s => new NodeProcess(s))
  const start = async (node: NodeProcess, extra: string[] = opts.extra ?? []): Promise<void> => {
    await node.start({ peers: specs.filter(s => s !== node.spec).map(s => s.addr), grantsFile, extra })
  }
  await Promise.all(nodes.map(async n => { await start(n) }))
  return {
    nodes,
    grantsFile,
    start,
    // SIGTERM when profiling, so each process exits cleanly and writes its profile.
    async stop () { await Promise.all(nodes.map(async n => { await n.kill(process.env.FED_NODE_ARGS === undefined ? 'SIGKILL' : 'SIGTERM') })) }
  }
}

/** True when every node reports the same canonical state hash and the same sequence vector. */
export async function converged (nodes: NodeProcess[]): Promise<boolean> {
  const states = await Promise.all(nodes.map(async n => await n.request<{ hash: string }>('state')))
  const vectors = await Promise.all(nodes.map(async n => JSON.stringify((await n.request<{ vector: unknown }>('status')).vector)))
  return states.every(s => s.hash === states[0]?.hash) && vectors.every(v => v === vectors[0])
}
