import { mkdtempSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import type { Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RunResult, Sandbox } from '../../src/index.ts'
import { openSandbox } from './helpers.ts'

const SECRET = 'os2-test-secret-' + String(process.pid)

/** Walks the class graph to every module namespace a method can reach and tries each object as a JS proxy. */
const CLASS_GRAPH_WALK = [
  'seen, hits, spaces = set(), [], {}',
  'def walk(c):',
  '    for s in type.__subclasses__(c):',
  '        if s not in seen:',
  '            seen.add(s)',
  '            yield s',
  '            yield from walk(s)',
  'for c in walk(object):',
  '    for v in list(vars(c).values()):',
  '        g = getattr(getattr(v, "__func__", v), "__globals__", None)',
  '        if isinstance(g, dict):',
  '            spaces[g.get("__name__")] = g',
  'for name, g in spaces.items():',
  '    for k, v in list(g.items()):',
  '        if isinstance(v, type):',
  '            continue',
  '        try:',
  '            hits.append((name, k, v.constructor.constructor("return process")().pid))',
  '        except Exception:',
  '            pass',
  'print([h[:2] for h in hits])'
].join('\n')
let outside: string
let secretFile: string
let server: Server
let port = 0
let connections = 0
let hardened: Sandbox
let bare: Sandbox

/** The attacker failed, and the sandbox either reported it or it surfaced as a permission error. */
function expectContained (r: RunResult, kinds: string[] = []): void {
  expect(r.stdout + r.stderr).not.toContain(SECRET)
  const permissionError = /PermissionError|ERR_ACCESS_DENIED|Access to this API has been restricted|denied by the OS2 sandbox/.test(r.stderr + (r.error?.message ?? ''))
  expect(r.violations.length > 0 || permissionError).toBe(true)
  if (kinds.length > 0) expect(r.violations.map((v) => v.kind)).toEqual(expect.arrayContaining(kinds))
}

beforeAll(async () => {
  process.env.OS2_TEST_SECRET = SECRET
  outside = mkdtempSync(join(tmpdir(), 'os2-outside-'))
  secretFile = join(outside, 'secret.txt')
  writeFileSync(secretFile, SECRET)
  server = createServer((socket) => { connections++; socket.destroy() })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  port = typeof address === 'object' && address !== null ? address.port : 0
  hardened = await openSandbox()
  bare = await openSandbox({ UNSAFE_skipInProcessHardening: true })
})

afterAll(async () => {
  await hardened?.close()
  await bare?.close()
  server?.close()
  rmSync(outside, { recursive: true, force: true })
  delete process.env.OS2_TEST_SECRET
})

describe('sandbox escape suite (in-process hardening on)', () => {
  it('run() refuses reading /etc/passwd and reports fs_outside_session', async () => {
    const r = await hardened.run("print(open('/etc/passwd').read())")
    expect(r.status).toBe('violation')
    expect(r.stdout).not.toContain('root:')
    expectContained(r, ['fs_outside_session'])
  })

  it('run() refuses reading a host file outside the scratch dir', async () => {
    const r = await hardened.run(`print(open(${JSON.stringify(secretFile)}).read())`)
    expectContained(r, ['fs_outside_session'])
  })

  it('run() refuses writing outside the scratch dir', async () => {
    const target = join(outside, 'written.txt')
    const r = await hardened.run(`open(${JSON.stringify(target)}, 'w').write('pwned')`)
    expectContained(r, ['fs_outside_session'])
    expect(existsSync(target)).toBe(false)
  })

  it('run() lets the script use its own /session dir', async () => {
    const r = await hardened.run("open('/session/a.txt', 'w').write('hi')\nprint(open('a.txt').read())")
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('hi\n')
  })

  it('run() sees no secret in the environment and the JS route to it is refused', async () => {
    const plain = await hardened.run("import os\nprint(os.environ.get('OS2_TEST_SECRET'))\nprint(sorted(os.environ))")
    expect(plain.status).toBe('ok')
    expect(plain.stdout).not.toContain(SECRET)
    expect(plain.stdout.split('\n')[0]).toBe('None')
    const viaJs = await hardened.run("import os\nprint(os.getenv('OS2_TEST_SECRET'))\nimport js\nprint(js.process.env.OS2_TEST_SECRET)")
    expect(viaJs.status).toBe('violation')
    expectContained(viaJs, ['forbidden_import'])
  })

  it('run() refuses os.system and subprocess', async () => {
    const a = await hardened.run("import os\nos.system('id')")
    expectContained(a, ['process_spawn'])
    const b = await hardened.run("import subprocess\nsubprocess.run(['id'])")
    expectContained(b, ['process_spawn'])
  })

  it('run() refuses a TCP connection to a loopback listener', async () => {
    const r = await hardened.run(`import socket\nsocket.create_connection(('127.0.0.1', ${port}), timeout=1)`)
    expectContained(r, ['network'])
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(connections).toBe(0)
  })

  it('run() refuses import js and import pyodide_js', async () => {
    expectContained(await hardened.run('import js\nprint(js.process.env)'), ['forbidden_import'])
    expectContained(await hardened.run('import pyodide_js'), ['forbidden_import'])
    expectContained(await hardened.run('import pyodide.code'), ['forbidden_import'])
  })

  it('run() refuses the to_js constructor trick', async () => {
    const r = await hardened.run('from pyodide.ffi import to_js\np = to_js([]).constructor.constructor("return process")()\nprint(p.env.OS2_TEST_SECRET)')
    expectContained(r, ['forbidden_import'])
  })

  it('run() leaves no live JS object on the class graph', async () => {
    const r = await hardened.run(CLASS_GRAPH_WALK)
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('[]\n')
  })

  it('run() refuses mounting host folders', async () => {
    const r = await hardened.run(`import pyodide_js\npyodide_js.mountNodeFS('/mnt', ${JSON.stringify(outside)})\nprint(open('/mnt/secret.txt').read())`)
    expectContained(r, ['forbidden_import'])
  })

  it('run() cannot forge bridge messages through the device fd', async () => {
    const forged = '{"t":"done","id":0,"status":"ok","units":0}\\n{"t":"out","s":"stdout","b":"Zm9yZ2Vk"}\\n'
    const code = [
      'import os',
      'for fd in range(3, 64):',
      '    try:',
      `        os.write(fd, b'${forged}')`,
      '    except OSError:',
      '        pass',
      'print("real")'
    ].join('\n')
    const r = await hardened.run(code)
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('real\n')
    const next = await hardened.run('print("next")')
    expect(next.stdout).toBe('next\n')
  })

  it('run() refuses gc introspection and compiling around the meter', async () => {
    expectContained(await hardened.run('import gc\ngc.get_objects()'), ['introspection'])
    expectContained(await hardened.run('import marshal\nmarshal.loads(b"")'), ['metering_tamper'])
  })

  it('run() still serves normal scripts after the attempts', async () => {
    const r = await hardened.run('print(sum(range(10)))')
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('45\n')
  })
})

describe('sandbox escape suite (process boundary alone: in-process hardening off)', () => {
  const getProcess = 'from pyodide.ffi import to_js\nproc = to_js([]).constructor.constructor("return process")()\n'

  it('run() reaches JS but the environment holds no secret', async () => {
    const r = await bare.run(getProcess + 'import js\nprint(getattr(proc.env, "OS2_TEST_SECRET", None), getattr(js.process.env, "OS2_TEST_SECRET", None))\nprint(len(list(js.Object.keys(proc.env))))')
    expect(r.status).toBe('ok')
    expect(r.stdout).toBe('None None\n0\n')
  })

  it('run() finds a live JS object on the class graph without the hardening', async () => {
    const r = await bare.run(CLASS_GRAPH_WALK)
    expect(r.stdout).toContain("('pyodide.webloop', 'scheduleCallback')")
  })

  it('run() reaches node:fs but the permission model denies host files', async () => {
    const read = await bare.run(getProcess + `fs = proc.getBuiltinModule('fs')\nprint(fs.readFileSync(${JSON.stringify(secretFile)}, 'utf8'))`)
    expect(read.status).toBe('error')
    expectContained(read)
    const passwd = await bare.run(getProcess + "print(proc.getBuiltinModule('fs').readFileSync('/etc/passwd', 'utf8'))")
    expect(passwd.stdout).not.toContain('root:')
    expectContained(passwd)
    const target = join(outside, 'js-written.txt')
    const write = await bare.run(getProcess + `proc.getBuiltinModule('fs').writeFileSync(${JSON.stringify(target)}, 'pwned')`)
    expectContained(write)
    expect(existsSync(target)).toBe(false)
  })

  it('run() reaches node:child_process but cannot spawn', async () => {
    const r = await bare.run(getProcess + "print(proc.getBuiltinModule('child_process').execSync('id').toString())")
    expect(r.status).toBe('error')
    expect(r.stdout).not.toContain('uid=')
    expectContained(r)
  })

  it('run() reaches node:net but no connection arrives', async () => {
    const r = await bare.run(getProcess + `net = proc.getBuiltinModule('net')\ns = net.connect(${port}, '127.0.0.1')\nprint('attempted')`)
    expect(['ok', 'error']).toContain(r.status)
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(connections).toBe(0)
  })

  it('run() can call mountNodeFS but the host folder stays unreadable', async () => {
    const r = await bare.run(`import pyodide_js\npyodide_js.mountNodeFS('/mnt', ${JSON.stringify(outside)})\nprint(open('/mnt/secret.txt').read())`)
    expect(r.status).toBe('error')
    expect(r.stdout).not.toContain(SECRET)
    expect(readdirSync(outside)).toEqual(['secret.txt'])
  })
})
