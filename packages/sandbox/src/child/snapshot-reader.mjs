// Reads a Pyodide memory snapshot for the sandbox child (host.mjs), with
// the heap image going from the file straight into WASM memory. Plain
// JavaScript: the child runs on bare `node`.
import fs from 'node:fs'

// Pyodide's snapshot format is a 48-byte header (magic, offset of the heap
// image, length of a JSON part, build id), the JSON, then the heap image up
// to the end; the file's length is the WASM memory size. With the restore
// patch (pyodide-code-cache.mjs) only the header and JSON are read up front,
// into a `SnapshotHeader` that tells Pyodide the file's length, and
// `restoreHeap` reads the image into WASM memory. Otherwise the whole file
// is read.

/**
 * The snapshot's header and JSON part, standing for the whole file: Pyodide
 * takes the file's length from it (`length`: its initial WASM memory size),
 * reads the header and the JSON, and hands the rest (here an empty view at
 * the image's offset) to `restoreHeap`, which reads the image from the
 * file. A buffer of the file's length (31 MB) costs ~13-23 ms of main
 * thread per start (measured) and counts as external memory to V8's
 * garbage collector.
 */
class SnapshotHeader extends Uint8Array {
  #fileLength

  constructor (byteLength, fileLength) {
    super(byteLength)
    this.#fileLength = fileLength
  }

  get length () { return this.#fileLength }

  // Views made from it (`subarray`) are plain views of its buffer.
  static get [Symbol.species] () { return Uint8Array }
}

/**
 * One snapshot read. `onRestore` is called when Emscripten asks for the heap
 * image (its linking and runtime set-up are done by then).
 *
 * @param {() => void} onRestore
 */
export function createSnapshotReader (onRestore) {
  let heapImage // { fd, offset, length, view } while a direct restore is pending

  function restoreHeap (heap, image) {
    onRestore()
    if (heapImage === undefined) {
      heap.set(image)
      return
    }
    if (image.buffer !== heapImage.view.buffer || image.byteOffset !== heapImage.offset) {
      // The image is still in the file, and this is not the part after its header.
      throw new Error('The Pyodide snapshot restore asked for another part of the snapshot than its heap image')
    }
    const { fd, offset, length } = heapImage
    heapImage = undefined
    try {
      for (let done = 0; done < length;) {
        const n = fs.readSync(fd, heap, done, length - done, offset + done)
        if (n === 0) throw new Error('The Pyodide snapshot file is shorter than its header says')
        done += n
      }
    } finally {
      fs.closeSync(fd)
    }
  }

  function openSnapshot (file, direct) {
    if (!direct) return fs.promises.readFile(file).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength))
    const fd = fs.openSync(file, 'r')
    try {
      const size = fs.fstatSync(fd).size
      const head = new Uint8Array(48)
      if (size < 48 || fs.readSync(fd, head, 0, 48, 0) !== 48) throw new Error('The Pyodide snapshot file is too short')
      const offset = new DataView(head.buffer).getUint32(4, true)
      if (offset < 48 || offset > size || offset % 16 !== 0) throw new Error('The Pyodide snapshot header is invalid')
      const view = new SnapshotHeader(offset, size)
      view.set(head)
      for (let done = 48; done < offset;) {
        const n = fs.readSync(fd, view, done, offset - done, done)
        if (n === 0) throw new Error('The Pyodide snapshot file is too short')
        done += n
      }
      heapImage = { fd, offset, length: size - offset, view }
      return view
    } catch (err) {
      fs.closeSync(fd)
      throw err
    }
  }

  /** Closes the file if the restore never asked for the image. */
  function close () {
    if (heapImage !== undefined) fs.closeSync(heapImage.fd)
    heapImage = undefined
  }

  return { openSnapshot, restoreHeap, close }
}
