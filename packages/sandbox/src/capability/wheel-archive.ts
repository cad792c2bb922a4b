import { crc32, inflateRawSync } from 'node:zlib'

/** What a validated pure-Python wheel holds. */
export interface WheelInfo {
  name: string
  version: string
  /** Wheel tags from the WHEEL file, e.g. `py3-none-any`. */
  tags: string[]
  files: number
}

/** A wheel that cannot be installed; `code` is stable. */
export class WheelError extends Error {
  readonly code: 'WHEEL_CORRUPT' | 'WHEEL_NOT_PURE' | 'WHEEL_INVALID'
  constructor (code: WheelError['code'], message: string) {
    super(message)
    this.name = 'WheelError'
    this.code = code
  }
}

interface Entry { name: string, method: number, crc: number, compressed: number, size: number, offset: number }

function findEnd (buf: Buffer): number {
  for (let i = buf.length - 22; i >= Math.max(0, buf.length - 22 - 0xffff); i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) return i
  }
  throw new WheelError('WHEEL_CORRUPT', 'Corrupt wheel: not a zip archive (no end of central directory)')
}

function entries (buf: Buffer): Entry[] {
  const end = findEnd(buf)
  const count = buf.readUInt16LE(end + 10)
  let at = buf.readUInt32LE(end + 16)
  const out: Entry[] = []
  for (let i = 0; i < count; i++) {
    if (at + 46 > buf.length || buf.readUInt32LE(at) !== 0x02014b50) throw new WheelError('WHEEL_CORRUPT', 'Corrupt wheel: bad central directory entry')
    const nameLen = buf.readUInt16LE(at + 28)
    const extraLen = buf.readUInt16LE(at + 30)
    const commentLen = buf.readUInt16LE(at + 32)
    out.push({
      method: buf.readUInt16LE(at + 10),
      crc: buf.readUInt32LE(at + 16),
      compressed: buf.readUInt32LE(at + 20),
      size: buf.readUInt32LE(at + 24),
      offset: buf.readUInt32LE(at + 42),
      name: buf.subarray(at + 46, at + 46 + nameLen).toString('utf8')
    })
    at += 46 + nameLen + extraLen + commentLen
  }
  return out
}

function extract (buf: Buffer, e: Entry): Buffer {
  if (e.offset + 30 > buf.length || buf.readUInt32LE(e.offset) !== 0x04034b50) throw new WheelError('WHEEL_CORRUPT', `Corrupt wheel: bad local header for ${e.name}`)
  const start = e.offset + 30 + buf.readUInt16LE(e.offset + 26) + buf.readUInt16LE(e.offset + 28)
  const raw = buf.subarray(start, start + e.compressed)
  if (raw.length !== e.compressed) throw new WheelError('WHEEL_CORRUPT', `Corrupt wheel: ${e.name} is truncated`)
  let data: Buffer
  try {
    if (e.method === 0) data = raw
    else if (e.method === 8) data = inflateRawSync(raw)
    else throw new WheelError('WHEEL_CORRUPT', `Corrupt wheel: ${e.name} uses unsupported compression ${e.method}`)
  } catch (err) {
    if (err instanceof WheelError) throw err
    throw new WheelError('WHEEL_CORRUPT', `Corrupt wheel: ${e.name} does not inflate (${(err as Error).message})`)
  }
  if (data.length !== e.size || crc32(data) !== e.crc) throw new WheelError('WHEEL_CORRUPT', `Corrupt wheel: ${e.name} fails its CRC check`)
  return data
}

function header (text: string, field: string): string[] {
  const prefix = field.toLowerCase() + ':'
  return text.split(/\r?\n/).filter(l => l.toLowerCase().startsWith(prefix)).map(l => l.slice(prefix.length).trim())
}

/**
 * Validates a wheel completely before anything is installed: the zip
 * structure, every entry's CRC, safe paths, a `*.dist-info/WHEEL` saying
 * `Root-Is-Purelib: true` with only `-none-any` tags, and no native files.
 *
 * @throws WheelError `WHEEL_CORRUPT`, `WHEEL_INVALID` or `WHEEL_NOT_PURE`
 */
export function inspectWheel (bytes: Uint8Array): WheelInfo {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const list = entries(buf)
  const files = new Map<string, Buffer>()
  for (const e of list) {
    if (e.name.startsWith('/') || e.name.split(/[\\/]/).includes('..')) throw new WheelError('WHEEL_INVALID', `Invalid wheel: unsafe path ${e.name}`)
    const data = extract(buf, e)
    if (e.name.endsWith('/')) continue
    if (/\.(so|pyd|dylib|dll)$/i.test(e.name) || /\.so\./.test(e.name)) throw new WheelError('WHEEL_NOT_PURE', `Not a pure-Python wheel: it ships native code (${e.name})`)
    files.set(e.name, data)
  }
  const wheelFile = [...files.keys()].find(n => /^[^/]+\.dist-info\/WHEEL$/.test(n))
  const metaFile = [...files.keys()].find(n => /^[^/]+\.dist-info\/METADATA$/.test(n))
  if (wheelFile === undefined || metaFile === undefined) throw new WheelError('WHEEL_INVALID', 'Invalid wheel: no .dist-info/WHEEL or METADATA')
  const wheel = files.get(wheelFile)?.toString('utf8') ?? ''
  const meta = files.get(metaFile)?.toString('utf8') ?? ''
  const pure = header(wheel, 'Root-Is-Purelib')[0]?.toLowerCase() === 'true'
  const tags = header(wheel, 'Tag')
  if (!pure || tags.length === 0 || tags.some(t => !t.endsWith('-none-any'))) {
    throw new WheelError('WHEEL_NOT_PURE', `Not a pure-Python wheel (Root-Is-Purelib ${pure ? 'true' : 'false'}, tags ${tags.join(', ') || 'none'})`)
  }
  const name = header(meta, 'Name')[0]
  const version = header(meta, 'Version')[0]
  if (name === undefined || version === undefined || name === '' || version === '') throw new WheelError('WHEEL_INVALID', 'Invalid wheel: METADATA has no Name or Version')
  return { name, version, tags, files: files.size }
}

/** PEP 503 normalised project name. */
export function normalizeProjectName (name: string): string {
  return name.toLowerCase().replace(/[-_.]+/g, '-')
}
