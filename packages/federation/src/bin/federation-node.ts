/* eslint-disable no-console -- this entry point talks JSON lines on stdout */
import './polyfill.ts'
import { appendFileSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { generateKeyPair, hashCanonical, keyFileExists, loadKeyPair, saveKeyPair } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'
import { nodeIdentity } from '../identity.ts'
import { createGrantBook } from '../policy/grant-book.ts'
import { createMemoryLedger } from '../ledger-port.ts'
import { createFileStorage } from '../storage/file-storage.ts'
import { createFederationReplica } from '../replica.ts'
import { createFederationTransport } from '../transport/federation-transport.ts'
import { episodicView, kvView, textView, vectorView } from '../memory/memory-views.ts'
import type { FederationGrant } from '../policy/grant-book.ts'

/**
 * A standalone federation node for multi-process tests and benchmarks, until
 * the daemon exists. Usage:
 *
 *   tsx src/bin/federation-node.ts --data-dir DIR [--listen MA]... [--peer MA]... [--grants FILE] [--interval MS] [--max-bundle BYTES] [--events-log]
 *
 * Reads JSON-line requests `{ id, op, ... }` on stdin and answers `{ id, ok, result | error }`
 * on stdout; prints `{ event: 'ready', peerId, addrs }` once listening.
 */
const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string' },
    listen: { type: 'string', multiple: true },
    peer: { type: 'string', multiple: true },
    grants: { type: 'string' },
    interval: { type: 'string' },
    'max-bundle': { type: 'string' },
    'events-log': { type: 'boolean' }
  }
})
const dataDir = values['data-dir']
if (dataDir === undefined) {
  console.error('usage: federation-node --data-dir DIR [--listen MA]... [--peer MA]... [--grants FILE]')
  process.exit(2)
}
mkdirSync(join(dataDir, 'federation'), { recursive: true })
const keyPath = join(dataDir, 'node.key')
if (!(await keyFileExists(keyPath))) await saveKeyPair(keyPath, generateKeyPair())
const identity = nodeIdentity(await loadKeyPair(keyPath))
const grantList = values.grants === undefined ? [] : (JSON.parse(readFileSync(values.grants, 'utf8')) as { grants: FederationGrant[] }).grants
const grants = createGrantBook(grantList)
const ledger = createMemoryLedger()
if (values['events-log'] === true) {
  const ledgerFile = join(dataDir, 'federation', 'events.jsonl')
  ledger.onRecord(e => { appendFileSync(ledgerFile, JSON.stringify({ seq: e.seq, type: e.type, payload: e.payload, hash: e.hash }) + '\n') })
}
let tick = 0
const maxBundleBytes = values['max-bundle'] === undefined ? undefined : Number(values['max-bundle'])
const limits = maxBundleBytes === undefined ? {} : { maxBundleBytes }
const replica = createFederationReplica({ identity, grants, ledger, clock: { now: () => ++tick }, storage: createFileStorage(dataDir) }, limits)
tick = replica.vector()[identity.peerId] ?? 0
const transport = createFederationTransport({ identity, replica }, {
  listen: values.listen ?? ['/ip4/127.0.0.1/tcp/0'],
  bootstrap: values.peer ?? [],
  antiEntropyIntervalMs: Number(values.interval ?? 500),
  ...limits
})
await transport.start()

const waiters: Array<{ done: () => boolean, resolve: () => void }> = []
replica.onBundle(() => {
  for (let i = waiters.length - 1; i >= 0; i--) {
    const w = waiters[i]
    if (w !== undefined && w.done()) { waiters.splice(i, 1); w.resolve() }
  }
})

type Req = Record<string, unknown> & { id?: unknown, op?: unknown }
const str = (v: unknown): string => String(v)

async function handle (req: Req): Promise<unknown> {
  const ns = str(req.namespace ?? 'default')
  switch (req.op) {
    case 'status':
      return { peerId: identity.peerId, addrs: transport.addresses(), vector: replica.vector(), peers: transport.peers().map(p => p.peerId), held: replica.heldCount(), stats: transport.stats() }
    case 'kv.put':
      return replica.write({ kind: 'kv', namespace: ns }, doc => { kvView(doc).set(str(req.key), req.value as CanonicalValue) })?.seq ?? null
    case 'kv.putMany': {
      // `perWrite` entries per write (one commit each), all writes issued in this turn; `spread` issues each write in its own event-loop turn.
      const entries = req.entries as Array<[string, CanonicalValue]>
      const per = Number(req.perWrite ?? 1)
      let last = null
      for (let i = 0; i < entries.length; i += per) {
        if (req.spread === true && i > 0) await new Promise(r => setImmediate(r))
        last = replica.write({ kind: 'kv', namespace: ns }, doc => { const kv = kvView(doc); for (const [k, v] of entries.slice(i, i + per)) kv.set(k, v) })?.seq ?? last
      }
      return last
    }
    case 'kv.delete':
      return replica.write({ kind: 'kv', namespace: ns }, doc => { kvView(doc).delete(str(req.key)) })?.seq ?? null
    case 'kv.get':
      return kvView(replica.memories.doc({ kind: 'kv', namespace: ns })).get(str(req.key)) ?? null
    case 'episodic.append':
      return replica.write({ kind: 'episodic', namespace: ns }, doc => { episodicView(doc).append(req.event as CanonicalValue) })?.seq ?? null
    case 'episodic.list':
      return episodicView(replica.memories.doc({ kind: 'episodic', namespace: ns })).list()
    case 'vector.upsert':
      return replica.write({ kind: 'vector', namespace: ns }, doc => { vectorView(doc).upsert(str(req.vid), req.vector as number[], (req.metadata ?? null) as CanonicalValue) })?.seq ?? null
    case 'vector.search':
      return vectorView(replica.memories.doc({ kind: 'vector', namespace: ns })).search(req.query as number[], Number(req.k ?? 5))
    case 'text.insert':
      return replica.write({ kind: 'text', namespace: ns }, doc => { textView(doc).insert(Number(req.index), str(req.text)) })?.seq ?? null
    case 'cpu': {
      const u = process.cpuUsage()
      return Math.round((u.user + u.system) / 1000)
    }
    case 'state': {
      const memories = replica.memories.canonicalAll()
      return { memories, hash: hashCanonical(memories) }
    }
    case 'verdicts':
      return ledger.events().filter(e => e.type === 'federation.verdict').map(e => e.payload)
    case 'commits':
      return replica.memories.commits(str(req.memory))
    case 'export':
      return replica.bundleRange(str(req.origin), Number(req.from ?? 1), Number(req.max ?? 1)).map(b => Buffer.from(b).toString('utf8'))
    case 'revoke':
      return replica.receiveRevocation(req.revocation)
    case 'disconnect':
      await transport.disconnect()
      return true
    case 'reconnect':
      await transport.reconnect()
      return true
    case 'dial':
      await transport.dial(str(req.addr))
      return true
    case 'waitVector': {
      const origin = str(req.origin)
      const seq = Number(req.seq)
      const done = (): boolean => (replica.vector()[origin] ?? 0) >= seq
      if (!done()) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => { reject(new Error(`Timed out waiting for ${origin.slice(-8)} seq ${seq}`)) }, Number(req.timeoutMs ?? 60_000))
          waiters.push({ done, resolve: () => { clearTimeout(timer); resolve() } })
        })
      }
      return replica.vector()
    }
    case 'stop':
      setImmediate(() => { void shutdown(0) })
      return true
    default:
      throw new RangeError(`Unknown op ${JSON.stringify(req.op)}`)
  }
}

async function shutdown (code: number): Promise<void> {
  await transport.stop().catch(() => undefined)
  replica.close()
  process.exit(code)
}
process.on('SIGTERM', () => { void shutdown(0) })

const rl = createInterface({ input: process.stdin })
rl.on('line', line => {
  let req: Req
  try {
    req = JSON.parse(line) as Req
  } catch {
    console.log(JSON.stringify({ id: null, ok: false, error: { code: 'BAD_REQUEST', message: 'Cannot parse request: not JSON' } }))
    return
  }
  handle(req).then(
    result => { console.log(JSON.stringify({ id: req.id ?? null, ok: true, result })) },
    (err: unknown) => {
      const e = err as { code?: string, message?: string }
      console.log(JSON.stringify({ id: req.id ?? null, ok: false, error: { code: e.code ?? 'FAILED', message: e.message ?? String(err) } }))
    }
  )
})
rl.on('close', () => { void shutdown(0) })

console.log(JSON.stringify({ event: 'ready', peerId: identity.peerId, addrs: transport.addresses() }))
