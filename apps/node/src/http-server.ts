import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { Registry } from 'prom-client'

export interface Readiness {
  ready: boolean
  checks: Record<string, string>
}

export interface HttpServerComponents {
  registry: Registry
  readiness(): Readiness
}

/** `/metrics`, `/healthz` (the process is up) and `/readyz` (each component's check). */
export interface HttpServer {
  start(): Promise<void>
  stop(): Promise<void>
  /** `host:port` actually bound (port 0 picks one). */
  readonly address: string
}

class DefaultHttpServer implements HttpServer {
  readonly #c: HttpServerComponents
  readonly #host: string
  readonly #port: number
  #server: Server | undefined
  #address = ''

  constructor (components: HttpServerComponents, address: string) {
    this.#c = components
    const at = address.lastIndexOf(':')
    this.#host = address.slice(0, at)
    this.#port = Number(address.slice(at + 1))
  }

  get address (): string { return this.#address }

  async start (): Promise<void> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0]
      if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405).end(); return }
      if (path === '/metrics') {
        this.#c.registry.metrics().then(text => {
          res.writeHead(200, { 'content-type': this.#c.registry.contentType }).end(text)
        }, (err: unknown) => { res.writeHead(500).end(String(err)) })
      } else if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n')
      } else if (path === '/readyz') {
        const r = this.#c.readiness()
        res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' }).end(JSON.stringify({ status: r.ready ? 'ready' : 'not_ready', checks: r.checks }) + '\n')
      } else {
        res.writeHead(404).end()
      }
    })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#port, this.#host, () => { server.off('error', reject); resolve() })
    })
    const a = server.address()
    this.#address = typeof a === 'object' && a !== null ? `${this.#host}:${a.port}` : String(a)
    this.#server = server
  }

  async stop (): Promise<void> {
    const server = this.#server
    this.#server = undefined
    if (server === undefined) return
    server.closeAllConnections()
    await new Promise<void>(resolve => { server.close(() => { resolve() }) })
  }
}

/** Creates the HTTP server of the node on `address` (`host:port`). */
export function createHttpServer (components: HttpServerComponents, address: string): HttpServer {
  return new DefaultHttpServer(components, address)
}
