import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'

/**
 * Runs real `nats-server` processes on loopback for tests, benches and the
 * local cluster (like nats.js's `nst` harness): JetStream on, file store in a
 * directory of its own, optional routes to form a cluster.
 */
export interface NatsServerProcess {
  readonly port: number
  readonly url: string
  readonly pid: number | undefined
  /** Stops the server (SIGTERM, then SIGKILL after 5 s). */
  stop(): Promise<void>
  /** Starts it again on the same ports and store. */
  restart(): Promise<void>
}

export interface NatsServerOptions {
  /** Store and config directory. */
  dir: string
  /** Client port (default: a free one). */
  port?: number
  /** Cluster membership: a name, this server's route port, every route URL. */
  cluster?: { name: string, port: number, routes: string[] }
  /** Server name (needed in a JetStream cluster; default `n<port>`). */
  name?: string
  /** Path of the binary (default: `NATS_SERVER` or `nats-server` on PATH, then /usr/sbin/nats-server). */
  binary?: string
  /** Leaves the process running when the parent exits (the local cluster). */
  detached?: boolean
}

const INSTALL_HINT = 'nats-server is not installed: run `apt-get install -y nats-server` (or set NATS_SERVER to its path)'

/** The nats-server binary, or a clear error naming the install command. */
export function findNatsServer (binary?: string): string {
  const candidates = binary !== undefined ? [binary] : ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']
  for (const c of candidates) {
    try {
      accessSync(c, constants.X_OK)
      return c
    } catch { /* next */ }
  }
  throw new Error(INSTALL_HINT)
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

function configText (options: Required<Pick<NatsServerOptions, 'dir' | 'name'>> & NatsServerOptions, port: number): string {
  const lines = [
    `server_name: ${options.name}`,
    `listen: 127.0.0.1:${port}`,
    `jetstream { store_dir: ${JSON.stringify(join(options.dir, 'jetstream'))} }`
  ]
  if (options.cluster !== undefined) {
    lines.push(`cluster { name: ${options.cluster.name}, listen: 127.0.0.1:${options.cluster.port}, routes: [${options.cluster.routes.map(r => JSON.stringify(r)).join(', ')}] }`)
  }
  return lines.join('\n') + '\n'
}

class DefaultNatsServer implements NatsServerProcess {
  readonly port: number
  readonly url: string
  readonly #binary: string
  readonly #config: string
  readonly #detached: boolean
  #child: ChildProcess | undefined
  #log = ''

  constructor (binary: string, config: string, port: number, detached: boolean) {
    this.#binary = binary
    this.#config = config
    this.port = port
    this.url = `nats://127.0.0.1:${port}`
    this.#detached = detached
  }

  get pid (): number | undefined { return this.#child?.pid }

  async restart (): Promise<void> {
    this.#log = ''
    const child = spawn(this.#binary, ['-c', this.#config], { stdio: this.#detached ? 'ignore' : ['ignore', 'pipe', 'pipe'], detached: this.#detached })
    this.#child = child
    if (this.#detached) {
      child.unref()
      await waitForPort(this.port, 15_000)
      return
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { reject(new Error(`nats-server on port ${this.port} did not start in 15 s:\n${this.#log}`)) }, 15_000)
      const onData = (chunk: Buffer): void => {
        this.#log += chunk.toString()
        if (this.#log.includes('Server is ready')) { clearTimeout(timer); resolve() }
      }
      child.stderr?.on('data', onData)
      child.stdout?.on('data', onData)
      child.once('exit', code => { clearTimeout(timer); reject(new Error(`nats-server exited with ${code}:\n${this.#log}`)) })
      child.once('error', err => { clearTimeout(timer); reject(err) })
    })
  }

  async stop (): Promise<void> {
    const child = this.#child
    this.#child = undefined
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return
    await new Promise<void>(resolve => {
      const timer = setTimeout(() => { child.kill('SIGKILL') }, 5000)
      child.once('exit', () => { clearTimeout(timer); resolve() })
      child.kill('SIGTERM')
    })
  }
}

async function waitForPort (port: number, timeoutMs: number): Promise<void> {
  const { connect } = await import('node:net')
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>(resolve => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => { resolve(false) })
    })
    if (ok) return
    if (Date.now() > deadline) throw new Error(`nats-server on port ${port} did not accept connections in ${timeoutMs} ms`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

/**
 * Starts a nats-server with JetStream on 127.0.0.1 and resolves once it is ready.
 *
 * @example
 * const server = await startNatsServer({ dir: '/tmp/nats-1' })
 * try { … server.url … } finally { await server.stop() }
 */
export async function startNatsServer (options: NatsServerOptions): Promise<NatsServerProcess> {
  const binary = findNatsServer(options.binary)
  const port = options.port ?? await freePort()
  mkdirSync(options.dir, { recursive: true })
  const config = join(options.dir, 'nats.conf')
  writeFileSync(config, configText({ ...options, name: options.name ?? `n${port}` }, port))
  const server = new DefaultNatsServer(binary, config, port, options.detached === true)
  await server.restart()
  return server
}
