/**
 * Container entry point of the os2/node image until the os2-node daemon
 * (apps/node) is runnable: runs the standalone federation node
 * (packages/federation/src/bin/federation-node.ts) as a child process and
 * exposes its JSON-lines control protocol over HTTP, so tests and operators
 * can drive a node in a container:
 *
 *   GET  /healthz  → 200 { ready, peerId, addrs } once the node listens (503 before)
 *   POST /rpc      → body { op, ... } as federation-node takes it; answers { ok, result | error }
 *
 * Configuration (environment):
 *   OS2_DATA_DIR    data dir (default /data)
 *   OS2_LISTEN      libp2p listen multiaddr (default /ip4/0.0.0.0/tcp/4001)
 *   OS2_PEERS       bootstrap multiaddrs, comma-separated
 *   OS2_KEY_SEED    when the data dir has no node.key yet: derive it from SHA-256(seed) (tests, compose)
 *   OS2_GRANTS_JSON the federation grants `{ "grants": [...] }` (written to <data>/grants.json)
 *   OS2_HTTP_PORT   control port (default 8080)
 *   OS2_INTERVAL_MS anti-entropy interval (default 500)
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { keyFileExists, keyPairFromSeed, saveKeyPair } from '@os2/crypto'

const env = process.env
const dataDir = env.OS2_DATA_DIR ?? '/data'
const listen = env.OS2_LISTEN ?? '/ip4/0.0.0.0/tcp/4001'
const peers = (env.OS2_PEERS ?? '').split(',').map(s => s.trim()).filter(s => s.length > 0)
const port = Number(env.OS2_HTTP_PORT ?? 8080)
const log = (msg: string, fields: Record<string, unknown> = {}): void => { console.log(JSON.stringify({ time: Date.now(), msg, ...fields })) }

mkdirSync(dataDir, { recursive: true })
const keyPath = join(dataDir, 'node.key')
if (env.OS2_KEY_SEED !== undefined && !(await keyFileExists(keyPath))) {
  await saveKeyPair(keyPath, keyPairFromSeed(createHash('sha256').update(env.OS2_KEY_SEED).digest()))
}
const args = ['--import', 'tsx', join(import.meta.dirname, '../../packages/federation/src/bin/federation-node.ts'), '--data-dir', dataDir, '--listen', listen, '--interval', env.OS2_INTERVAL_MS ?? '500']
for (const p of peers) args.push('--peer', p)
if (env.OS2_GRANTS_JSON !== undefined) {
  const grantsFile = join(dataDir, 'grants.json')
  writeFileSync(grantsFile, env.OS2_GRANTS_JSON)
  args.push('--grants', grantsFile)
}

const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] })
let ready: { peerId: string, addrs: string[] } | undefined
let next = 1
const pending = new Map<number, (answer: unknown) => void>()
createInterface({ input: child.stdout }).on('line', line => {
  let msg: Record<string, unknown>
  try {
    msg = JSON.parse(line) as Record<string, unknown>
  } catch {
    return
  }
  if (msg.event === 'ready') {
    ready = { peerId: String(msg.peerId), addrs: msg.addrs as string[] }
    log('node ready', ready)
    return
  }
  const id = typeof msg.id === 'number' ? msg.id : undefined
  const resolve = id === undefined ? undefined : pending.get(id)
  if (id !== undefined && resolve !== undefined) {
    pending.delete(id)
    resolve(msg)
  }
})
child.on('exit', code => {
  log('node exited', { code })
  process.exit(code ?? 1)
})

const server = createServer((req, res) => {
  const reply = (status: number, body: unknown): void => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(JSON.stringify(body))
  }
  if (req.method === 'GET' && req.url === '/healthz') {
    reply(ready === undefined ? 503 : 200, { ready: ready !== undefined, ...ready })
    return
  }
  if (req.method !== 'POST' || req.url !== '/rpc') {
    reply(404, { ok: false, error: 'GET /healthz or POST /rpc' })
    return
  }
  const chunks: Buffer[] = []
  let size = 0
  req.on('data', (c: Buffer) => {
    size += c.length
    if (size > 16 * 1024 * 1024) req.destroy()
    else chunks.push(c)
  })
  req.on('end', () => {
    let body: Record<string, unknown>
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object')
    } catch (err) {
      reply(400, { ok: false, error: `Body is not a JSON object: ${(err as Error).message}` })
      return
    }
    const id = next++
    pending.set(id, answer => { reply(200, answer) })
    child.stdin.write(JSON.stringify({ ...body, id }) + '\n')
  })
})
server.listen(port, '0.0.0.0', () => { log('control listening', { port }) })

const stop = (): void => {
  log('stopping')
  server.close()
  child.kill('SIGTERM')
  setTimeout(() => { child.kill('SIGKILL') }, 5000).unref()
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
