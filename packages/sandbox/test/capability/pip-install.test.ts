import { createHash } from 'node:crypto'
import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { crc32 } from 'node:zlib'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createGenesis, createKernel, replayLedger } from '@os2/kernel'
import type { KernelHandle } from '@os2/kernel'
import { createPythonRuntime } from '../../src/capability/python-runtime.ts'

/** A stored zip holding the given files. */
function zip (files: Record<string, string>): Buffer {
  const parts: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text)
    const n = Buffer.from(name)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt32LE(crc32(data), 14); local.writeUInt32LE(data.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(n.length, 26)
    const c = Buffer.alloc(46)
    c.writeUInt32LE(0x02014b50, 0); c.writeUInt32LE(crc32(data), 16); c.writeUInt32LE(data.length, 20); c.writeUInt32LE(data.length, 24); c.writeUInt16LE(n.length, 28); c.writeUInt32LE(offset, 42)
    parts.push(local, n, data)
    central.push(c, n)
    offset += 30 + n.length + data.length
  }
  const cd = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(central.length / 2, 8); end.writeUInt16LE(central.length / 2, 10); end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16)
  return Buffer.concat([...parts, cd, end])
}

const WHEEL = zip({
  'tiny_pkg/__init__.py': 'VALUE = 1\n',
  'tiny_pkg-2.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: tiny-pkg\nVersion: 2.0\n',
  'tiny_pkg-2.0.dist-info/WHEEL': 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n'
})
const SHA = createHash('sha256').update(WHEEL).digest('hex')

describe('pip.install capability', () => {
  let dir: string
  let kernel: KernelHandle
  let runtime: ReturnType<typeof createPythonRuntime>

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os2-pip-'))
    await mkdir(join(dir, 'links'))
    await writeFile(join(dir, 'links', 'tiny_pkg-2.0-py3-none-any.whl'), WHEEL)
    runtime = createPythonRuntime({ dataDir: join(dir, 'data') })
    kernel = await createKernel({}, { genesis: createGenesis({ seed: 9 }), descriptors: runtime.descriptors })
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'p', capability: 'pip.install', scope: { namespaces: ['os2.pip'] } } })
  })
  afterEach(async () => {
    await kernel.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('`pip.install` finds a project in a local wheel folder, stores it by SHA-256 and replays without the file', async () => {
    await kernel.handle({ type: 'SubmitToken', token: { id: 'i', capability: 'pip.install', principal: 'p', args: { source: 'Tiny.Pkg', findLinks: join(dir, 'links') } } })
    await kernel.runUntilIdle()
    expect(kernel.token('i')?.result).toEqual({ name: 'tiny-pkg', version: '2.0', sha256: SHA, filename: 'tiny_pkg-2.0-py3-none-any.whl' })
    expect(await readdir(join(dir, 'data', 'wheels'))).toEqual([`${SHA}.whl`])
    expect(kernel.kv('os2.pip')).toEqual([{ namespace: 'os2.pip', key: 'tiny-pkg', value: kernel.token('i')?.result }])
    await rm(dir, { recursive: true, force: true })
    const report = await replayLedger(kernel.ledger.events(), { genesis: kernel.genesis, descriptors: runtime.descriptors })
    expect(report.ok && report.head).toBe(kernel.ledger.head)
  })

  it('`pip.install` refuses a hash mismatch with nothing stored or recorded', async () => {
    await kernel.handle({ type: 'SubmitToken', token: { id: 'i', capability: 'pip.install', principal: 'p', args: { source: join(dir, 'links', 'tiny_pkg-2.0-py3-none-any.whl'), sha256: 'a'.repeat(64) } } })
    await kernel.runUntilIdle()
    expect(kernel.token('i')?.error?.message).toMatch(/^WHEEL_HASH_MISMATCH: /)
    expect(await readdir(join(dir, 'data', 'wheels')).catch(() => [])).toEqual([])
    expect(kernel.kv('os2.pip')).toEqual([])
  })
})
