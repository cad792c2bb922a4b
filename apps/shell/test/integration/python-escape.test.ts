import { createServer } from 'node:http'
import type { Server } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { events, inDir, lastToken, ofToken, pythonDir } from './python-helpers.ts'

const SECRET = 'os2-escape-secret-4711'

async function listen (server: Server | ReturnType<typeof createTcpServer>): Promise<number> {
  await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
  const addr = server.address()
  if (addr === null || typeof addr === 'string') throw new Error('no port')
  return addr.port
}

describe('os2 python escape suite: each attempt fails and leaves a capability_violation', () => {
  let d: Awaited<ReturnType<typeof pythonDir>>
  let tcp: ReturnType<typeof createTcpServer>
  let port = 0
  let connections = 0
  let outside = ''

  beforeAll(async () => {
    d = await pythonDir()
    outside = join(d.root, 'host-secret.txt')
    await writeFile(outside, SECRET)
    tcp = createTcpServer((s) => { connections++; s.destroy() })
    port = await listen(tcp)
  })
  afterAll(async () => {
    await new Promise((resolve) => tcp.close(resolve))
    await d.cleanup()
  })

  const cases: Array<[string, () => string]> = [
    ['reading a host file outside the session dir', () => `print(open(${JSON.stringify(outside)}).read())`],
    ['writing a host file outside the session dir', () => `open(${JSON.stringify(join(outside, '..', 'written.txt'))}, 'w').write('x')`],
    ["reading a secret from the parent's environment", () => "import os\nprint(os.environ.get('OS2_ESCAPE_SECRET'))\nimport js\nprint(js.process.env.OS2_ESCAPE_SECRET)"],
    ['spawning a process', () => "import subprocess\nsubprocess.run(['id'])"],
    ['opening a TCP connection to a loopback listener', () => `import socket\nsocket.create_connection(('127.0.0.1', ${port}), timeout=1)`],
    ['import js', () => 'import js\nprint(js.process.env)'],
    ['import pyodide_js', () => 'import pyodide_js'],
    ['the to_js constructor trick', () => 'from pyodide.ffi import to_js\np = to_js([]).constructor.constructor("return process")()\nprint(p.env.OS2_ESCAPE_SECRET)'],
    ['mounting a host folder', () => `import pyodide_js\npyodide_js.mountNodeFS('/mnt', ${JSON.stringify(d.root)})\nprint(open('/mnt/host-secret.txt').read())`],
    ['fetching a host the grant does not allow', () => "import os2\ntry:\n    os2.fetch('http://127.0.0.1:9/')\nexcept Exception as e:\n    print('caught', type(e).__name__)"],
    ["writing the kernel's own os2.pip records", () => "import os2\nos2.invoke('kernel.state.put', {'namespace': 'os2.pip', 'key': 'x', 'value': 1})"],
    ['calling a capability no script may use', () => "import os2\nos2.invoke('kernel.snapshot', {})"]
  ]

  it.each(cases)('`os2 python` refuses %s and the ledger records capability_violation', async (name, code) => {
    const path = await d.script(`${name.replace(/\W+/g, '-')}.py`, code())
    const r = await inDir(d.dir, ['python', path], { env: { OS2_ESCAPE_SECRET: SECRET } })
    expect(r.code, r.stderr).toBe(1)
    expect(r.stdout + r.stderr).not.toContain(SECRET)
    const evs = await events(d.dir)
    const mine = ofToken(evs, lastToken(evs))
    const v = mine.find(e => e.type === 'capability_violation')
    expect(v, JSON.stringify(mine.map(e => e.type))).toBeDefined()
    expect(mine.some(e => e.type === 'failed')).toBe(true)
    expect(connections).toBe(0)
  })

  it('`os2 pyx` still serves after the attempts', async () => {
    const r = await inDir(d.dir, ['pyx', '6 * 7'])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toBe('42\n')
  })
})

describe('os2 python net.fetch: recorded, replayed with the server stopped', () => {
  it('`snapshot-replay` of a run that fetched a URL reproduces it after the server is gone', async () => {
    const d = await pythonDir()
    let hits = 0
    const server = createServer((req, res) => { hits++; res.setHeader('content-type', 'text/plain'); res.end(`pong ${req.url ?? ''}`) })
    const port = await listen(server)
    try {
      const grant = await inDir(d.dir, ['cap-grant', '--principal', 'operator', '--capability', 'python.exec', '--namespaces', '*', '--hosts', '127.0.0.1'])
      expect(grant.code, grant.stderr).toBe(0)
      const snap = await inDir(d.dir, ['--json', 'snapshot-create', '--label', 'before fetch'])
      expect(snap.code, snap.stderr).toBe(0)
      const snapId = String((JSON.parse(snap.stdout) as { id?: string, snapshot?: { id: string } }).id ?? (JSON.parse(snap.stdout) as { snapshot: { id: string } }).snapshot.id)
      const script = await d.script('fetch.py', `import os2\nr = os2.fetch('http://127.0.0.1:${port}/ping')\nprint(r.status, r.text())\nos2.state.put('last', r.text())\n`)
      const r = await inDir(d.dir, ['python', script])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toBe('200 pong /ping\n')
      expect(hits).toBe(1)
      await new Promise((resolve) => server.close(resolve))
      const replay = await inDir(d.dir, ['snapshot-replay', snapId])
      expect(replay.code, replay.stdout + replay.stderr).toBe(0)
      const verify = await inDir(d.dir, ['ledger-verify', '--replay'])
      expect(verify.code, verify.stderr).toBe(0)
      const evs = await events(d.dir)
      const fetched = ofToken(evs, lastToken(evs)).find(e => e.type === 'external_result' && e.payload.name === 'net.fetch')
      expect((fetched?.payload.result as { body: string }).body).toBe('pong /ping')
      expect(hits).toBe(1)
    } finally {
      server.close()
      await d.cleanup()
    }
  })
})
