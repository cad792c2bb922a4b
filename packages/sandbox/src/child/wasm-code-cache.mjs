// Pyodide's WebAssembly module with its machine code, cached beside the
// memory snapshot, for the sandbox child (host.mjs). Plain JavaScript: the
// child runs on bare `node`.
//
// Compiling pyodide.asm.wasm only validates it: V8 compiles each function
// (Liftoff) the first time it runs, on the main thread, ~1,300 of them
// while a session restores and sets up. V8 can serialize a compiled module
// (the code of its TurboFan-compiled functions, and which of the others had
// run) and deserialize it against the same wire bytes, but Node 20 exposes
// that only to V8's own tests, as natives syntax (`%SerializeWasmModule`).
// The flag that allows it is on only while the functions below are
// compiled, and the child refuses to go on if it is still on after.
//
// The cache is made by a child restored from the snapshot that has set up
// a session and run a warm-up script (`make-wasm-cache`). V8 serializes
// only TurboFan code; a function that ran with Liftoff code is recorded as
// "eager" (compiled with Liftoff while deserializing: ~25 ms of a start
// waiting for it) and the rest as lazy. So that child compiles every
// function it runs with TurboFan (`--no-liftoff`, from before the module
// is compiled until it is serialized, when the flags go back to what a
// session has: V8 refuses a cache made under other flags); the parent
// checks that a session accepts the result, else makes it again without,
// compiling with TurboFan only the exported functions that ran.
//
// V8 checks its data against its version, flags and CPU features, but
// trusts that the wire bytes are the ones the code was compiled from and
// does not checksum the data: the file carries a SHA-256 of itself and a
// stamp of the WASM bytes (`wasmStamp`), checked before V8 sees it.

import fs from 'node:fs'
import crypto from 'node:crypto'
import v8 from 'node:v8'

const MAGIC = Buffer.from('OS2-WASM-CODE-CACHE-1\n')

function compileNatives () {
  v8.setFlagsFromString('--allow-natives-syntax')
  let natives
  try {
    natives = {
      deserialize: new Function('data', 'wire', 'return %DeserializeWasmModule(data, wire)'),
      serialize: new Function('module', 'return %SerializeWasmModule(module)'),
      tierUp: new Function('fn', '%WasmTierUpFunction(fn)'),
      isLiftoff: new Function('fn', 'return %IsLiftoffFunction(fn)')
    }
  } finally {
    v8.setFlagsFromString('--no-allow-natives-syntax')
  }
  // Code compiled from here on (the sandboxed script's too) must not reach
  // V8's internals: fail closed if the flag did not go off.
  let stillOn = true
  try {
    new Function('return %IsBeingInterpreted()')
  } catch (err) {
    stillOn = !(err instanceof SyntaxError)
  }
  if (stillOn) throw new Error('V8 natives syntax is still enabled; refusing to run untrusted code')
  return natives
}

const natives = compileNatives()

const LIFTOFF_OFF = '--no-liftoff'
// A session runs with all three on. Setting `--liftoff` back alone gave a
// cache sessions refuse (V8 derives other flags from it); with these two
// as well they accept it (the parent checks, see wasm-cache.ts).
const LIFTOFF_ON = '--liftoff --wasm-tier-up --wasm-dynamic-tiering'

/** For the cache-making child: compile with TurboFan from the first call (call before the module is compiled). */
export function optimizeEverythingThatRuns () {
  v8.setFlagsFromString(LIFTOFF_OFF)
  optimizing = true
}
let optimizing = false

/**
 * What a cache is made for: the WASM bytes' length and a SHA-256 of 17
 * slices of 4 KiB spread over them (a different build differs almost
 * everywhere; hashing all 9.6 MB would cost ~8 ms of every start). Taken
 * from the content, not the file's inode or mtime, so checkouts of the same
 * Pyodide share one cache. wasm-cache.ts computes the same from the file.
 */
export function wasmStamp (bytes) {
  const h = crypto.createHash('sha256')
  const slice = 4096
  for (let i = 0; i <= 16; i++) {
    const at = Math.max(0, Math.floor((bytes.length - slice) * i / 16))
    h.update(bytes.subarray(at, at + slice))
  }
  return `${bytes.length}:${h.digest('hex').slice(0, 32)}`
}

// The file: MAGIC, the SHA-256 of the rest, then the rest: the stamp's
// length (u16 LE), the stamp (UTF-8), V8's data. (wasm-cache.ts reads the
// stamp to tell whether a cache is stale.)

/**
 * The cached module for `wasmBytes`, or why there is none: `accepted`,
 * `missing` (no file), `corrupt` (bad magic or checksum), `stale` (made
 * from another WASM file), `rejected` (V8 refused it: another V8 version,
 * other flags or CPU features).
 *
 * @param {string} file
 * @param {string} stamp `wasmStamp` of the file `wasmBytes` was read from
 * @param {Uint8Array} wasmBytes
 * @returns {{ state: string, module?: WebAssembly.Module }}
 */
export function readWasmCache (file, stamp, wasmBytes) {
  let buf
  try { buf = fs.readFileSync(file) } catch { return { state: 'missing' } }
  const head = MAGIC.length
  if (buf.length < head + 32 + 2 || !buf.subarray(0, head).equals(MAGIC)) return { state: 'corrupt' }
  const rest = buf.subarray(head + 32)
  if (!crypto.createHash('sha256').update(rest).digest().equals(buf.subarray(head, head + 32))) return { state: 'corrupt' }
  const stampEnd = 2 + rest.readUInt16LE(0)
  if (stampEnd > rest.length) return { state: 'corrupt' }
  if (rest.toString('utf8', 2, stampEnd) !== stamp) return { state: 'stale' }
  // V8 takes the data as an ArrayBuffer of its own.
  const data = new Uint8Array(rest.length - stampEnd)
  data.set(rest.subarray(stampEnd))
  const module = natives.deserialize(data.buffer, wasmBytes)
  return module instanceof WebAssembly.Module ? { state: 'accepted', module } : { state: 'rejected' }
}

/**
 * Writes the cache for `module` after a warm-up ran in `instance`: puts
 * back the flags a session has, compiles with TurboFan the exported
 * functions that ran with Liftoff (none after `optimizeEverythingThatRuns`),
 * then V8 serializes the module. Returns the file's size and how many
 * functions it compiled here.
 */
export function writeWasmCache (file, stamp, module, instance, sleepMs) {
  if (optimizing) v8.setFlagsFromString(LIFTOFF_ON)
  let tieredUp = 0
  for (const fn of Object.values(instance.exports)) {
    if (typeof fn !== 'function' || !natives.isLiftoff(fn)) continue
    natives.tierUp(fn)
    tieredUp++
  }
  // A tier-up V8 started by itself (a hot loop) finishes on a background
  // thread; V8 fails a CHECK if one lands while it serializes, so let them.
  sleepMs(250)
  const data = Buffer.from(natives.serialize(module))
  const stampBytes = Buffer.from(stamp, 'utf8')
  const len = Buffer.alloc(2)
  len.writeUInt16LE(stampBytes.length, 0)
  const rest = Buffer.concat([len, stampBytes, data])
  const out = Buffer.concat([MAGIC, crypto.createHash('sha256').update(rest).digest(), rest])
  const tmp = file + '.' + process.pid + '.tmp'
  fs.writeFileSync(tmp, out)
  fs.renameSync(tmp, file)
  return { bytes: out.length, tieredUp }
}
