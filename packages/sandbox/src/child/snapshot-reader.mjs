// Reads a Pyodide memory snapshot for the sandbox child (host.mjs), with
// the heap image going from the file straight into WASM memory. Plain
// JavaScript: the child runs on bare `node`.
import fs from 'node:fs'

// Pyodide's snapshot format is a 48-byte header (magic, offset of the heap
// image, length of a JSON part, build id), the JSON, then the heap image up
// to the end; the file's length is the WASM memory size. With the restore
// patch (pyodide-code-cache.mjs) only the header and JSON are read up front,
// into a buffer of the file's length (zero pages the OS maps lazily), and
// `restoreHeap` reads the image into WASM memory. Otherwise the whole file
// is read.

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
    if (heapImage === undefined || image.buffer !== heapImage.view.buffer || image.byteOffset !== heapImage.offset) {
      heap.set(image)
      return
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
      const view = new Uint8Array(size)
      if (size < 48 || fs.readSync(fd, view, 0, 48, 0) !== 48) throw new Error('The Pyodide snapshot file is too short')
      const offset = new DataView(view.buffer).getUint32(4, true)
      if (offset < 48 || offset > size) throw new Error('The Pyodide snapshot header is invalid')
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
