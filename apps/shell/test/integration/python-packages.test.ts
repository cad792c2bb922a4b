import { createHash } from 'node:crypto'
import { createServer } from 'node:http'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { events, inDir, lastToken, ofToken, pythonDir } from './python-helpers.ts'

/** A stored (uncompressed) zip with the given files. */
function zip (files: Record<string, string>): Buffer {
  const locals: Buffer[] = []
  const centrals: Buffer[] = []
  let offset = 0
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text)
    const nameBytes = Buffer.from(name)
    const crc = crc32(data)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(20, 4); local.writeUInt32LE(crc, 14)
    local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(nameBytes.length, 26)
    const central = Buffer.alloc(46)
    central.writeUInt32LE(0x02014b50, 0); central.writeUInt16LE(20, 4); central.writeUInt16LE(20, 6); central.writeUInt32LE(crc, 16)
    central.writeUInt32LE(data.length, 20); central.writeUInt32LE(data.length, 24); central.writeUInt16LE(nameBytes.length, 28); central.writeUInt32LE(offset, 42)
    locals.push(local, nameBytes, data)
    centrals.push(central, nameBytes)
    offset += 30 + nameBytes.length + data.length
  }
  const cd = Buffer.concat(centrals)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(centrals.length / 2, 8); end.writeUInt16LE(centrals.length / 2, 10)
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16)
  return Buffer.concat([...locals, cd, end])
}

function wheel (pkg: string, opts: { pure?: boolean, extra?: Record<string, string> } = {}): Buffer {
  return zip({
    [`${pkg}/__init__.py`]: 'def greet(name):\n    return "hello " + name\n',
    [`${pkg}/__main__.py`]: `import sys\nfrom ${pkg} import greet\nprint(greet(" ".join(sys.argv[1:]) or "world"))\n`,
    ...(opts.extra ?? {}),
    [`${pkg}-1.0.dist-info/METADATA`]: `Metadata-Version: 2.1\nName: ${pkg.replace(/_/g, '-')}\nVersion: 1.0\n`,
    [`${pkg}-1.0.dist-info/WHEEL`]: `Wheel-Version: 1.0\nGenerator: os2-test\nRoot-Is-Purelib: ${opts.pure === false ? 'false' : 'true'}\nTag: ${opts.pure === false ? 'cp314-cp314-linux_x86_64' : 'py3-none-any'}\n`,
    [`${pkg}-1.0.dist-info/RECORD`]: ''
  })
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
/** (module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)), assembled by hand. */
const ADD_WASM = Buffer.from('0061736d0100000001070160027f7f017f030201000707010361646400000a09010700200020016a0b', 'hex')

async function listing (dir: string): Promise<string[]> {
  return await readdir(dir).catch(() => [])
}

describe('os2 pip install / pyvm run / module mount (real CLI, real Pyodide)', () => {
  let d: Awaited<ReturnType<typeof pythonDir>>
  beforeAll(async () => { d = await pythonDir() })
  afterAll(async () => { await d.cleanup() })

  it('`os2 pip install` refuses a corrupt, a hash-mismatched and a non-pure wheel with nothing half-installed', async () => {
    const good = wheel('hello_os2')
    const corrupt = Buffer.from(good)
    corrupt[55] = (corrupt[55] ?? 0) ^ 0xff // inside the first file's data: its CRC no longer matches
    const cases: Array<[string, Buffer, string[], RegExp]> = [
      ['corrupt_os2-1.0-py3-none-any.whl', corrupt, [], /error WHEEL_CORRUPT: .*CRC/],
      ['truncated_os2-1.0-py3-none-any.whl', good.subarray(0, 100), [], /error WHEEL_CORRUPT: .*not a zip/],
      ['hello_os2-1.0-py3-none-any.whl', good, ['--sha256', '0'.repeat(64)], /error WHEEL_HASH_MISMATCH: .*expected sha256 0{64}/],
      ['native_os2-1.0-cp314-cp314-linux_x86_64.whl', wheel('native_os2', { pure: false }), [], /error WHEEL_NOT_PURE: /],
      ['sofile_os2-1.0-py3-none-any.whl', wheel('sofile_os2', { extra: { 'sofile_os2/_speed.so': 'ELF' } }), [], /error WHEEL_NOT_PURE: .*_speed\.so/]
    ]
    for (const [file, bytes, flags, message] of cases) {
      const path = join(d.root, file)
      await writeFile(path, bytes)
      const r = await inDir(d.dir, ['pip', 'install', path, ...flags])
      expect(r.code, file).toBe(1)
      expect(r.stderr, file).toMatch(message)
    }
    const missing = await inDir(d.dir, ['pip', 'install', join(d.root, 'nope-1.0-py3-none-any.whl')])
    expect(missing.stderr).toMatch(/error WHEEL_NOT_FOUND: /)
    expect(await listing(join(d.dir, 'wheels'))).toEqual([])
    const evs = await events(d.dir)
    expect(evs.some(e => e.type === 'custom' && e.payload.name === 'pip.installed')).toBe(false)
    const run = await inDir(d.dir, ['pyvm', 'run', 'hello_os2'])
    expect(run.code).toBe(1)
    expect(run.stderr).toMatch(/error UNKNOWN_MODULE: No Python module named hello_os2/)
  })

  it('`os2 pip install` installs a local wheel, `os2 pyvm run` runs it, and a tampered wheel then fails its SHA-256 check', async () => {
    const bytes = wheel('hello_os2')
    const path = join(d.root, 'hello_os2-1.0-py3-none-any.whl')
    await writeFile(path, bytes)
    const r = await inDir(d.dir, ['pip', 'install', path, '--sha256', sha(bytes)])
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toContain(`installed hello-os2 1.0 sha256 ${sha(bytes)}`)
    expect(await listing(join(d.dir, 'wheels'))).toEqual([`${sha(bytes)}.whl`])
    const evs = await events(d.dir)
    const installed = ofToken(evs, lastToken(evs, 'pip-')).find(e => e.type === 'custom' && e.payload.name === 'pip.installed')
    expect((installed?.payload.data as { sha256: string }).sha256).toBe(sha(bytes))
    const run = await inDir(d.dir, ['pyvm', 'run', 'hello_os2', 'os2', 'users'])
    expect(run.code, run.stderr).toBe(0)
    expect(run.stdout).toBe('hello os2 users\n')
    const stored = join(d.dir, 'wheels', `${sha(bytes)}.whl`)
    const original = await readFile(stored)
    await writeFile(stored, Buffer.concat([original, Buffer.from('tampered')]))
    try {
      const after = await inDir(d.dir, ['pyx', '1'])
      expect(after.code).toBe(1)
      expect(after.stderr).toMatch(/error WHEEL_HASH_MISMATCH: .*fails its SHA-256 check/)
    } finally {
      await writeFile(stored, original)
    }
    const again = await inDir(d.dir, ['pyx', "__import__('hello_os2').greet('again')"])
    expect(again.stdout).toBe("'hello again'\n")
  })

  it('`os2 pip install <name> --index-url` installs from an allow-listed loopback index and checks its #sha256', async () => {
    const bytes = wheel('indexed_os2')
    const server = createServer((req, res) => {
      if (req.url === '/simple/indexed-os2/') res.end(`<a href="/files/indexed_os2-1.0-py3-none-any.whl#sha256=${sha(bytes)}">indexed_os2-1.0-py3-none-any.whl</a>`)
      else if (req.url === '/files/indexed_os2-1.0-py3-none-any.whl') res.end(bytes)
      else { res.statusCode = 404; res.end() }
    })
    await new Promise<void>((resolve) => { server.listen(0, '127.0.0.1', resolve) })
    const port = (server.address() as { port: number }).port
    try {
      const denied = await inDir(d.dir, ['pip', 'install', 'indexed-os2', '--index-url', `http://127.0.0.1:${port}/simple/`])
      expect(denied.code).toBe(1)
      expect(denied.stderr).toMatch(/error GRANT_OUT_OF_SCOPE: .*host 127\.0\.0\.1/)
      const grant = await inDir(d.dir, ['cap-grant', '--principal', 'operator', '--capability', 'pip.install', '--namespaces', 'os2.pip', '--hosts', '127.0.0.1'])
      expect(grant.code, grant.stderr).toBe(0)
      const r = await inDir(d.dir, ['pip', 'install', 'indexed-os2', '--index-url', `http://127.0.0.1:${port}/simple/`])
      expect(r.code, r.stderr).toBe(0)
      expect(r.stdout).toContain(`installed indexed-os2 1.0 sha256 ${sha(bytes)}`)
    } finally {
      server.close()
    }
    const run = await inDir(d.dir, ['pyvm', 'run', 'indexed_os2'])
    expect(run.stdout).toBe('hello world\n')
  })

  it('`os2 module mount` refuses an invalid .wasm and mounts a valid one callable as os2.modules.NAME', async () => {
    const bad = join(d.root, 'bad.wasm')
    await writeFile(bad, Buffer.from('0061736d01000000ff', 'hex'))
    const r1 = await inDir(d.dir, ['module', 'mount', bad, '--as', 'bad'])
    expect(r1.code).toBe(1)
    expect(r1.stderr).toMatch(/error MODULE_INVALID: bad\.wasm is not a valid WebAssembly module/)
    expect(await listing(join(d.dir, 'modules'))).toEqual([])
    const unknown = await inDir(d.dir, ['pyx', "__import__('os2').modules.calc.add(1, 2)"])
    expect(unknown.code).toBe(1)
    expect(unknown.stderr).toMatch(/UNKNOWN_MODULE: No WASM module is mounted as calc/)
    const good = join(d.root, 'add.wasm')
    await writeFile(good, ADD_WASM)
    const r2 = await inDir(d.dir, ['module', 'mount', good, '--as', 'calc'])
    expect(r2.code, r2.stderr).toBe(0)
    expect(r2.stdout).toContain('exports add')
    expect(await listing(join(d.dir, 'modules'))).toEqual([`${sha(ADD_WASM)}.wasm`])
    const call = await inDir(d.dir, ['pyx', "__import__('os2').modules.calc.add(40, 2)"])
    expect(call.code, call.stderr).toBe(0)
    expect(call.stdout).toBe('42\n')
  })
})
