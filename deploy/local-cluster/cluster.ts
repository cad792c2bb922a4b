/**
 * The local cluster: `npm run cluster -- --nodes 3` starts a three-server
 * NATS cluster (routes, JetStream, streams R3) and N `os2-node` processes on
 * loopback, each with its own data dir under the run dir, waits until every
 * node is ready and federated, and prints how to attach. `npm run
 * cluster:stop` stops it through the pid file. Reference: docs/node.md.
 *
 *   tsx deploy/local-cluster/cluster.ts start [--nodes N] [--dir RUN_DIR] [--name CLUSTER]
 *   tsx deploy/local-cluster/cluster.ts stop [--dir RUN_DIR]
 */
import '../../vitest.setup.ts'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import { generateKeyPair, loadKeyPair, saveKeyPair, keyFileExists } from '@os2/crypto'
import { nodeIdentity } from '@os2/federation'
import { freePort, startNatsServer } from '../../apps/node/src/nats-server.ts'

const ROOT = resolve(import.meta.dirname, '..', '..')
const NODE_BIN = join(ROOT, 'apps', 'node', 'bin', 'os2-node.js')

interface ClusterFile {
  name: string
  nats: Array<{ pid: number, url: string }>
  nodes: Array<{ name: string, pid: number, peerId: string, attach: string[], federation: string[], metrics: string, dataDir: string, log: string }>
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { nodes: { type: 'string', default: '3' }, dir: { type: 'string' }, name: { type: 'string', default: 'local' } }
})
const command = positionals[0] ?? 'start'
const runDir = resolve(values.dir ?? process.env.OS2_CLUSTER_DIR ?? join(tmpdir(), 'os2-cluster'))
const pidFile = join(runDir, 'cluster.json')

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch (err) { return (err as NodeJS.ErrnoException).code === 'EPERM' }
}

async function until (what: string, cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`)
    await new Promise(r => setTimeout(r, 200))
  }
}

function readyLine (log: string): Record<string, unknown> | undefined {
  if (!existsSync(log)) return undefined
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    if (!line.includes('"node ready"')) continue
    try { return JSON.parse(line) as Record<string, unknown> } catch { /* partial */ }
  }
  return undefined
}

async function stop (): Promise<void> {
  if (!existsSync(pidFile)) { console.log(`no cluster in ${runDir}`); return }
  const file = JSON.parse(readFileSync(pidFile, 'utf8')) as ClusterFile
  // Nodes first (they flush their ledgers and publish what they can), then NATS.
  for (const group of [file.nodes.map(n => n.pid), file.nats.map(n => n.pid)]) {
    for (const pid of group) if (alive(pid)) process.kill(pid, 'SIGTERM')
    await until('processes to exit', async () => group.every(pid => !alive(pid)), 15_000).catch(() => {
      for (const pid of group) if (alive(pid)) process.kill(pid, 'SIGKILL')
    })
  }
  writeFileSync(pidFile + '.stopped', JSON.stringify(file, null, 2))
  const { rmSync } = await import('node:fs')
  rmSync(pidFile)
  console.log(`stopped cluster ${file.name}: ${file.nodes.length} nodes, ${file.nats.length} NATS servers (data kept in ${runDir})`)
}

async function start (): Promise<void> {
  const n = Number(values.nodes)
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new Error('--nodes must be an integer from 1 to 16')
  if (existsSync(pidFile)) {
    const old = JSON.parse(readFileSync(pidFile, 'utf8')) as ClusterFile
    if ([...old.nodes, ...old.nats].some(p => alive(p.pid))) throw new Error(`A cluster is already running from ${runDir}: npm run cluster:stop`)
  }
  mkdirSync(runDir, { recursive: true })
  const name = values.name
  const file: ClusterFile = { name, nats: [], nodes: [] }
  const save = (): void => { writeFileSync(pidFile, JSON.stringify(file, null, 2) + '\n') }

  // 1. Three NATS servers with routes to each other, JetStream on.
  const clientPorts = [await freePort(), await freePort(), await freePort()]
  const routePorts = [await freePort(), await freePort(), await freePort()]
  const routes = routePorts.map(p => `nats-route://127.0.0.1:${p}`)
  for (let i = 0; i < 3; i++) {
    const server = await startNatsServer({ dir: join(runDir, `nats-${i + 1}`), port: clientPorts[i] as number, name: `nats-${i + 1}`, cluster: { name: `os2-${name}`, port: routePorts[i] as number, routes }, detached: true })
    file.nats.push({ pid: server.pid as number, url: server.url })
    save()
  }
  const servers = file.nats.map(s => s.url)
  console.log(`NATS cluster up: ${servers.join(', ')}`)
  const nc = await connect({ servers })
  await until('JetStream to elect a meta leader', async () => { await (await jetstreamManager(nc)).getAccountInfo(); return true }, 60_000)
  await nc.close()

  // 2. The operator key an attached shell uses (its peer id is in every node's attach.operators).
  const operatorKey = join(runDir, 'operator.key')
  if (!(await keyFileExists(operatorKey))) await saveKeyPair(operatorKey, generateKeyPair())
  const operator = nodeIdentity(await loadKeyPair(operatorKey)).peerId

  // 3. The nodes; every node after the first bootstraps from the first.
  let bootstrap: string[] = []
  for (let i = 1; i <= n; i++) {
    const node = `n${i}`
    const dataDir = join(runDir, node, 'data')
    const log = join(runDir, node, 'node.log')
    mkdirSync(join(runDir, node), { recursive: true })
    const metrics = `127.0.0.1:${await freePort()}`
    const config = join(runDir, node, 'node.toml')
    writeFileSync(config, [
      `cluster = "${name}"`, `node = "${node}"`, `data_dir = "${dataDir}"`, 'seed = "local-cluster"', '',
      '[federation]', 'listen = ["/ip4/127.0.0.1/tcp/0"]', `bootstrap = ${JSON.stringify(bootstrap)}`, '',
      '[attach]', 'listen = ["/ip4/127.0.0.1/tcp/0"]', `operators = ["${operator}"]`, '',
      '[nats]', `servers = ${JSON.stringify(servers)}`, 'replicas = 3', '',
      '[metrics]', `address = "${metrics}"`, ''
    ].join('\n'))
    const out = openSync(log, 'a')
    const child = spawn(process.execPath, [NODE_BIN, '--config', config], { detached: true, stdio: ['ignore', out, out] })
    child.unref()
    const pid = child.pid as number
    let ready: Record<string, unknown> | undefined
    await until(`${node} to start (log: ${log})`, async () => {
      if (!alive(pid)) throw new Error(`${node} exited; see ${log}`)
      ready = readyLine(log)
      return ready !== undefined
    }, 90_000)
    const r = ready as { peerId: string, attach: string[], federation: string[], metrics: string }
    file.nodes.push({ name: node, pid, peerId: r.peerId, attach: r.attach, federation: r.federation, metrics: r.metrics, dataDir, log })
    save()
    if (i === 1) bootstrap = r.federation.slice(0, 1)
  }

  // 4. Ready (kernel open, federation listening, NATS connected) and federated (every node sees a peer).
  for (const node of file.nodes) {
    await until(`${node.name} /readyz`, async () => (await fetch(`http://${node.metrics}/readyz`)).status === 200, 60_000)
    if (n > 1) {
      await until(`${node.name} to federate`, async () => {
        const text = await (await fetch(`http://${node.metrics}/metrics`)).text()
        const m = /^os2_federation_peers (\d+)/m.exec(text)
        return m !== null && Number(m[1]) >= 1
      }, 60_000)
    }
  }

  console.log(`cluster ${name}: ${n} nodes ready and federated (run dir ${runDir})`)
  for (const node of file.nodes) {
    console.log(`  ${node.name}  pid ${node.pid}  peer ${node.peerId}`)
    console.log(`      attach   ${node.attach[0] ?? '(none)'}`)
    console.log(`      metrics  http://${node.metrics}/metrics`)
  }
  const first = file.nodes[0]
  console.log('\nattach a shell:')
  console.log(`  npx os2 --attach ${first?.attach[0] ?? ''} --key ${operatorKey} cap-list`)
  console.log('follow the event stream of every node:')
  console.log(`  npx os2 events --nats ${servers.join(',')} --cluster ${name} --follow`)
  console.log('stop: npm run cluster:stop')
}

try {
  if (command === 'stop') await stop()
  else if (command === 'start') await start()
  else throw new Error(`Unknown command ${command}: use start or stop`)
} catch (err) {
  console.error(`cluster: ${(err as Error).message}`)
  process.exitCode = 1
}
