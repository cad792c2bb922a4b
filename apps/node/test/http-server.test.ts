import { Counter, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { createHttpServer } from '../src/http-server.ts'

describe('createHttpServer()', () => {
  it('`start()` serves /metrics, /healthz and /readyz (503 when not ready) on a picked port', async () => {
    const registry = new Registry()
    new Counter({ name: 'demo_total', help: 'demo', registers: [registry] }).inc(3)
    let ready = false
    const server = createHttpServer({ registry, readiness: () => ({ ready, checks: { kernel: ready ? 'open' : 'closed' } }) }, '127.0.0.1:0')
    await server.start()
    try {
      const base = `http://${server.address}`
      expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/)
      expect(await (await fetch(`${base}/metrics`)).text()).toContain('demo_total 3')
      expect((await fetch(`${base}/healthz`)).status).toBe(200)
      const notReady = await fetch(`${base}/readyz`)
      expect(notReady.status).toBe(503)
      expect(await notReady.json()).toEqual({ status: 'not_ready', checks: { kernel: 'closed' } })
      ready = true
      expect((await fetch(`${base}/readyz`)).status).toBe(200)
      expect((await fetch(`${base}/nope`)).status).toBe(404)
    } finally {
      await server.stop()
    }
  })
})
