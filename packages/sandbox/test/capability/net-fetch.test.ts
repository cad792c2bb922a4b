import { createServer } from 'node:http'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createGenesis, createKernel, replayLedger } from '@os2/kernel'
import { createPythonRuntime } from '../../src/capability/python-runtime.ts'

describe('net.fetch capability', () => {
  let server: ReturnType<typeof createServer>
  let port = 0
  let hits = 0

  beforeEach(async () => {
    hits = 0
    server = createServer((req, res) => {
      hits++
      if (req.url === '/bin') { res.setHeader('content-type', 'application/octet-stream'); res.end(Buffer.from([0xff, 0x00, 0xfe])) } else { res.setHeader('content-type', 'text/plain'); res.setHeader('x-noise', 'dropped'); res.end(`hello ${req.method ?? ''}`) }
    })
    await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
    port = (server.address() as { port: number }).port
  })
  afterEach(() => { server.close() })

  it('`net.fetch` records the response and replay serves it with the server stopped', async () => {
    const { descriptors } = createPythonRuntime({ dataDir: '/nonexistent' })
    const kernel = await createKernel({}, { genesis: createGenesis({ seed: 5 }), descriptors })
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'p', capability: 'net.fetch', scope: { hosts: ['127.0.0.1'] } } })
    await kernel.handle({ type: 'SubmitToken', token: { id: 'f', capability: 'net.fetch', principal: 'p', args: { url: `http://127.0.0.1:${port}/x`, method: 'POST', body: 'b' } } })
    await kernel.handle({ type: 'SubmitToken', token: { id: 'g', capability: 'net.fetch', principal: 'p', args: { url: `http://127.0.0.1:${port}/bin` } } })
    await kernel.runUntilIdle()
    expect(kernel.token('f')?.result).toEqual({ status: 200, headers: { 'content-length': '10', 'content-type': 'text/plain' }, body: 'hello POST', encoding: 'utf8', truncated: false })
    expect(kernel.token('g')?.result).toMatchObject({ body: Buffer.from([0xff, 0x00, 0xfe]).toString('base64'), encoding: 'base64' })
    server.close()
    const report = await replayLedger(kernel.ledger.events(), { genesis: kernel.genesis, descriptors })
    expect(report.ok && report.head).toBe(kernel.ledger.head)
    expect(hits).toBe(2)
  })

  it('`net.fetch` refuses a host outside the grant at submission without a request', async () => {
    const { descriptors } = createPythonRuntime({ dataDir: '/nonexistent' })
    const kernel = await createKernel({}, { genesis: createGenesis({ seed: 5 }), descriptors })
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'p', capability: 'net.fetch', scope: { hosts: ['example.org'] } } })
    await kernel.handle({ type: 'SubmitToken', token: { id: 'f', capability: 'net.fetch', principal: 'p', args: { url: `http://127.0.0.1:${port}/x` } } })
    await kernel.runUntilIdle()
    expect(kernel.token('f')?.error?.code).toBe('GRANT_OUT_OF_SCOPE')
    expect([...kernel.ledger.events()].some(e => e.type === 'capability_violation')).toBe(true)
    expect(hits).toBe(0)
  })
})
