import { crc32, deflateRawSync } from 'node:zlib'
import { describe, expect, it } from 'vitest'
import { inspectWheel, normalizeProjectName, WheelError } from '../../src/capability/wheel-archive.ts'

/** A zip with deflated entries. */
function zip (files: Record<string, string>): Buffer {
  const parts: Buffer[] = []
  const central: Buffer[] = []
  let offset = 0
  for (const [name, text] of Object.entries(files)) {
    const data = Buffer.from(text)
    const packed = deflateRawSync(data)
    const n = Buffer.from(name)
    const local = Buffer.alloc(30)
    local.writeUInt32LE(0x04034b50, 0); local.writeUInt16LE(8, 8); local.writeUInt32LE(crc32(data), 14)
    local.writeUInt32LE(packed.length, 18); local.writeUInt32LE(data.length, 22); local.writeUInt16LE(n.length, 26)
    const c = Buffer.alloc(46)
    c.writeUInt32LE(0x02014b50, 0); c.writeUInt16LE(8, 10); c.writeUInt32LE(crc32(data), 16)
    c.writeUInt32LE(packed.length, 20); c.writeUInt32LE(data.length, 24); c.writeUInt16LE(n.length, 28); c.writeUInt32LE(offset, 42)
    parts.push(local, n, packed)
    central.push(c, n)
    offset += 30 + n.length + packed.length
  }
  const cd = Buffer.concat(central)
  const end = Buffer.alloc(22)
  end.writeUInt32LE(0x06054b50, 0); end.writeUInt16LE(central.length / 2, 8); end.writeUInt16LE(central.length / 2, 10)
  end.writeUInt32LE(cd.length, 12); end.writeUInt32LE(offset, 16)
  return Buffer.concat([...parts, cd, end])
}

const META = { 'pkg-1.0.dist-info/METADATA': 'Metadata-Version: 2.1\nName: Pkg_Name\nVersion: 1.0\n' }
const PURE = { 'pkg-1.0.dist-info/WHEEL': 'Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n' }

function codeOf (fn: () => unknown): string | undefined {
  try { fn() } catch (err) { return err instanceof WheelError ? err.code : 'other' }
  return undefined
}

describe('inspectWheel()', () => {
  it('`inspectWheel()` reads name, version and tags of a deflated pure-Python wheel', () => {
    expect(inspectWheel(zip({ 'pkg/__init__.py': 'x = 1\n', ...META, ...PURE }))).toEqual({ name: 'Pkg_Name', version: '1.0', tags: ['py3-none-any'], files: 3 })
  })

  it('`inspectWheel()` refuses corrupt data, native code, platform tags, unsafe paths and missing metadata', () => {
    const good = zip({ 'pkg/__init__.py': 'x = 1\n'.repeat(50), ...META, ...PURE })
    const flipped = Buffer.from(good)
    flipped[45] = (flipped[45] ?? 0) ^ 0x55
    expect(codeOf(() => inspectWheel(flipped))).toBe('WHEEL_CORRUPT')
    expect(codeOf(() => inspectWheel(good.subarray(0, good.length - 30)))).toBe('WHEEL_CORRUPT')
    expect(codeOf(() => inspectWheel(Buffer.from('not a zip at all, just text that is long enough')))).toBe('WHEEL_CORRUPT')
    expect(codeOf(() => inspectWheel(zip({ 'pkg/_c.so': 'ELF', ...META, ...PURE })))).toBe('WHEEL_NOT_PURE')
    expect(codeOf(() => inspectWheel(zip({ ...META, 'pkg-1.0.dist-info/WHEEL': 'Root-Is-Purelib: true\nTag: cp314-cp314-linux_x86_64\n' })))).toBe('WHEEL_NOT_PURE')
    expect(codeOf(() => inspectWheel(zip({ '../evil.py': '', ...META, ...PURE })))).toBe('WHEEL_INVALID')
    expect(codeOf(() => inspectWheel(zip({ 'pkg/__init__.py': '', ...PURE })))).toBe('WHEEL_INVALID')
  })

  it('`normalizeProjectName()` follows PEP 503', () => {
    expect(normalizeProjectName('Hello_World.Pkg')).toBe('hello-world-pkg')
  })
})
