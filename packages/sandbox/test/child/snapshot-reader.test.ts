import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

interface SnapshotReader {
  openSnapshot: (file: string, direct: boolean) => Uint8Array | Promise<Uint8Array>
  restoreHeap: (heap: Uint8Array, image: Uint8Array) => void
  close: () => void
}
// The child's modules are plain JavaScript (the child runs on bare `node`).
const { createSnapshotReader } = await import('../../src/child/snapshot-reader.mjs' as string) as { createSnapshotReader: (onRestore: () => void) => SnapshotReader }

const dir = mkdtempSync(join(tmpdir(), 'os2-snapshot-reader-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

/** A file in Pyodide's snapshot format: 48-byte header (magic, image offset, JSON length), JSON, heap image. */
function snapshotFile (image: Uint8Array): { file: string, offset: number } {
  const json = Buffer.from('{"hiwire":[]}')
  const offset = Math.ceil((48 + json.length) / 16) * 16
  const bytes = Buffer.alloc(offset + image.length)
  bytes.writeUInt32LE(0x0fc1a35c, 0)
  bytes.writeUInt32LE(offset, 4)
  bytes.writeUInt32LE(json.length, 8)
  json.copy(bytes, 48)
  bytes.set(image, offset)
  const file = join(dir, `s${Math.random().toString(36).slice(2)}.snap`)
  writeFileSync(file, bytes)
  return { file, offset }
}

describe('createSnapshotReader()', () => {
  it('openSnapshot(file, true) reads only the header and JSON, reports the file\'s length, and restoreHeap() reads the image from the file into the heap', () => {
    const image = Uint8Array.from({ length: 4096 }, (_, i) => (i * 7 + 3) & 0xff)
    const { file, offset } = snapshotFile(image)
    let restored = 0
    const reader = createSnapshotReader(() => { restored++ })
    const view = reader.openSnapshot(file, true) as Uint8Array
    expect(view.length).toBe(offset + image.length) // what Pyodide takes as the initial memory size
    expect(view.byteLength).toBe(offset) // no buffer of the file's length
    expect(new DataView(view.buffer, view.byteOffset).getUint32(4, true)).toBe(offset)
    const rest = view.subarray(offset) // what Pyodide's restore hands over
    expect(rest).not.toBe(view)
    const heap = new Uint8Array(image.length)
    reader.restoreHeap(heap, rest)
    expect(restored).toBe(1)
    expect(Buffer.from(heap).equals(Buffer.from(image))).toBe(true)
  })

  it('restoreHeap() refuses another part of the snapshot than its heap image while the image is still in the file', () => {
    const { file } = snapshotFile(new Uint8Array(64).fill(1))
    const reader = createSnapshotReader(() => {})
    const view = reader.openSnapshot(file, true) as Uint8Array
    expect(() => { reader.restoreHeap(new Uint8Array(64), view.subarray(16)) }).toThrow(/another part of the snapshot/)
    reader.close()
  })

  it('openSnapshot(file, false) reads the whole file, and restoreHeap() copies the image it is given', async () => {
    const image = new Uint8Array(256).fill(9)
    const { file, offset } = snapshotFile(image)
    const reader = createSnapshotReader(() => {})
    const whole = await reader.openSnapshot(file, false)
    expect(whole.length).toBe(offset + image.length)
    expect(whole.byteLength).toBe(offset + image.length)
    const heap = new Uint8Array(image.length)
    reader.restoreHeap(heap, whole.subarray(offset))
    expect(heap.every((b) => b === 9)).toBe(true)
  })
})
