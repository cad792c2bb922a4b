// The sandbox child: one OS process per Python session.
//
// Runs under Node's permission model with an empty environment (and, where
// the OS allows, in its own network namespace). It loads Pyodide, then talks
// to the parent only over two pipes: fd 3 (child -> parent) and fd 4
// (parent -> child), one JSON object per line. After Pyodide has loaded the
// process is fully synchronous: it blocks on fd 4 between runs and while a
// syscall is in flight, so Python sees `os2.invoke` as an ordinary call.
//
// This file is plain JavaScript because the child runs on bare `node`
// (no tsx loader, no read access outside Pyodide and this folder).
import fs from 'node:fs'
import crypto from 'node:crypto'
import path from 'node:path'
import { syncBuiltinESMExports } from 'node:module'
import { pathToFileURL } from 'node:url'
import v8 from 'node:v8'
import vm from 'node:vm'

const TO_PARENT = 3
const FROM_PARENT = 4
const boot = JSON.parse(process.argv[2] ?? '{}')

// ---------------------------------------------------------------- channel

function send (msg) {
  const line = Buffer.from(JSON.stringify(msg) + '\n')
  let off = 0
  while (off < line.length) {
    try {
      off += fs.writeSync(TO_PARENT, line, off, line.length - off)
    } catch (err) {
      if (err.code !== 'EAGAIN') throw err
      sleepMs(1)
    }
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4))
function sleepMs (ms) { Atomics.wait(sleeper, 0, 0, ms) }

let inbox = Buffer.alloc(0)
const chunk = Buffer.alloc(1 << 16)
/** Blocks until the parent sends one full line; returns it parsed. */
function receive () {
  for (;;) {
    const nl = inbox.indexOf(10)
    if (nl >= 0) {
      const line = inbox.subarray(0, nl).toString('utf8')
      inbox = inbox.subarray(nl + 1)
      return JSON.parse(line)
    }
    let n
    try {
      n = fs.readSync(FROM_PARENT, chunk, 0, chunk.length, null)
    } catch (err) {
      if (err.code === 'EAGAIN') { sleepMs(1); continue }
      throw err
    }
    if (n === 0) process.exit(0) // parent went away
    inbox = Buffer.concat([inbox, chunk.subarray(0, n)])
  }
}

function violation (kind, detail) {
  send({ t: 'violation', kind, detail: String(detail).slice(0, 500) })
}

// ------------------------------------------------------- load Pyodide

// Pyodide reads process.binding('constants') while it boots; under the
// permission model that binding throws (STACK.md pitfall).
const realBinding = process.binding
process.binding = (name) => name === 'constants' ? { fs: fs.constants, os: {} } : realBinding.call(process, name)

// V8 tiers hot WASM functions up to TurboFan on background threads after a
// budget of executed code (default 1.8 M); Pyodide's interpreter loop is
// hot from the first instruction, and on a 2-core machine compiling it
// competes with start-up and the first run. A 10x budget delays tier-up:
// spawn -> ready ~13% faster, the first run ~2x faster, the same speed
// from the second run on (measured in this commit). Set at run time, so
// a V8 without the flag ignores it.
v8.setFlagsFromString('--wasm-tiering-budget=20000000')

const started = performance.now()
const phases = {}
// Start-up work that does not depend on each other overlaps: the WASM
// compile (V8 decodes and validates on background threads; functions are
// compiled lazily on first call) runs while the main thread loads
// Pyodide's JS (pyodide.asm.mjs, 1.2 MB).
const wasmPath = path.join(boot.pyodideDir, 'pyodide.asm.wasm')
const wasmBytes = fs.readFileSync(wasmPath)
const wasmModule = WebAssembly.compile(wasmBytes)
wasmModule.catch(() => {}) // Pyodide's own instantiate reports a failure
// The modules only the hardening (in `init`) needs load while the main
// thread would otherwise wait for the compile.
const hostModules = Promise.all(['node:net', 'node:tls', 'node:dgram', 'node:http', 'node:https', 'node:child_process'].map((m) => import(m)))

// ------------------------------------------- Pyodide's JS, from a code cache
//
// pyodide.asm.mjs (Emscripten's output, 1.2 MB of JS) costs ~55 ms of main
// thread to parse as a module, and more to compile lazily the functions the
// restore runs. Node 20 has no module compile cache, but a `vm.Script` takes
// V8 code-cache data: the file is loaded as a script (a function of the two
// module-only things it uses, `import.meta.url` and dynamic `import()`),
// and the cache is written once, beside the snapshot, by the process that
// makes the snapshot (after Pyodide ran, so the lazily compiled functions
// are in it). A source of another shape is imported as a module, as before.

const ASM_HEAD = 'async function _createPyodideModule('
const ASM_TAIL = 'export default _createPyodideModule;'
// Token counts of the Pyodide version this was written against: a new
// version with other module-only syntax falls back to the module import.
const ASM_META_URLS = 3
const ASM_DYNAMIC_IMPORTS = 15
// Two exact-text patches, applied only when each occurs exactly once:
const ASM_PATCHES = [
  // Emscripten compiles a tiny WASM module per JS function it puts in the
  // function table (261 at start-up); the module depends only on the
  // signature, so one per signature is compiled and reused (same bytes,
  // same module; each function still gets its own instance).
  ['var module=new WebAssembly.Module(bytes);', 'var module=__os2.wrapperModules[sig]??=new WebAssembly.Module(bytes);'],
  // The snapshot restore copies the heap image into WASM memory: the child
  // reads it from the file straight into that memory instead (no 31 MB
  // buffer, no second copy; see `restoreHeap`).
  ['return Module.HEAP8.set(t),l}', 'return __os2.restoreHeap(Module.HEAP8,t),l}']
]
const CACHE_MAGIC = Buffer.from('OS2-V8-CODE-CACHE-2\n')

/**
 * The script form of pyodide.asm.mjs and which patches it got, or undefined
 * if its shape is not the expected one. The edits are found with `indexOf`
 * on the file as read and applied in one `join` (a regex, `split` or a
 * chain of replacements over 1.2 MB costs tens of ms).
 */
function asmAsScript (src) {
  const tail = src.lastIndexOf(ASM_TAIL)
  if (!src.startsWith(ASM_HEAD) || tail < 0 || src.slice(tail + ASM_TAIL.length).trim() !== '') return undefined
  const edits = [] // [at, length, replacement]
  let metaUrls = 0
  let dynamicImports = 0
  for (let at = src.indexOf('import', 0); at >= 0 && at < tail; at = src.indexOf('import', at + 6)) {
    const before = at === 0 ? '' : src[at - 1]
    if (/[\w$]/.test(before)) continue // part of a longer name
    if (src.startsWith('import.meta', at)) {
      if (!src.startsWith('import.meta.url', at) || before === '.') return undefined
      edits.push([at, 'import.meta.url'.length, '__os2.url'])
      metaUrls++
    } else if (src[at + 6] === '(' && before !== '.') {
      edits.push([at, 6, '__os2.import'])
      dynamicImports++
    }
  }
  if (metaUrls !== ASM_META_URLS || dynamicImports !== ASM_DYNAMIC_IMPORTS) return undefined
  let restoreHeap = false
  for (const [find, replace] of ASM_PATCHES) {
    const at = src.indexOf(find)
    if (at < 0 || at >= tail || src.indexOf(find, at + 1) >= 0) continue
    edits.push([at, find.length, replace])
    if (find === ASM_PATCHES[1][0]) restoreHeap = true
  }
  edits.sort((a, b) => a[0] - b[0])
  const parts = ["(function (__os2) {'use strict';"]
  let from = 0
  for (const [at, length, replacement] of edits) {
    if (at < from) return undefined // overlapping edits: not the expected text
    parts.push(src.slice(from, at), replacement)
    from = at + length
  }
  parts.push(src.slice(from, tail), '\nreturn _createPyodideModule\n})')
  return { source: parts.join(''), restoreHeap }
}

/**
 * The code cache file: `CACHE_MAGIC`, the SHA-256 of the rest, then the
 * rest: a flags byte (1 = the heap-restore patch is in the source), the
 * script source's length in bytes (u32 LE), the source (UTF-8) and V8's
 * cache data. The source is the one V8 compiled when the cache was made,
 * so a session does not read and rewrite pyodide.asm.mjs again. V8 checks
 * its data against the source's length and its own version and flags, but
 * does not checksum it in release builds: the SHA-256 does.
 */
function readCodeCache (file) {
  let buf
  try { buf = fs.readFileSync(file) } catch { return { state: 'missing' } }
  const head = CACHE_MAGIC.length
  if (buf.length <= head + 32 + 5 || !buf.subarray(0, head).equals(CACHE_MAGIC)) return { state: 'corrupt' }
  const rest = buf.subarray(head + 32)
  if (!crypto.createHash('sha256').update(rest).digest().equals(buf.subarray(head, head + 32))) return { state: 'corrupt' }
  const sourceEnd = 5 + rest.readUInt32LE(1)
  if (sourceEnd > rest.length) return { state: 'corrupt' }
  return { state: 'found', script: { source: rest.toString('utf8', 5, sourceEnd), restoreHeap: rest[0] === 1 }, data: rest.subarray(sourceEnd) }
}

function writeCodeCache (file, script, data) {
  const source = Buffer.from(script.source, 'utf8')
  const meta = Buffer.alloc(5)
  meta[0] = script.restoreHeap ? 1 : 0
  meta.writeUInt32LE(source.length, 1)
  const rest = Buffer.concat([meta, source, data])
  const tmp = file + '.' + process.pid + '.tmp'
  fs.writeFileSync(tmp, Buffer.concat([CACHE_MAGIC, crypto.createHash('sha256').update(rest).digest(), rest]))
  fs.renameSync(tmp, file)
}

// The snapshot: Pyodide's format is a 48-byte header (magic, offset of the
// heap image, length of a JSON part, build id), the JSON, then the heap
// image up to the end; the file's length is the WASM memory size. With the
// restore patch only the header and JSON are read up front, into a buffer
// of the file's length (zero pages the OS maps lazily), and `restoreHeap`
// reads the image into WASM memory. Otherwise the whole file is read.
let heapImage // { fd, offset, length, view } while a direct restore is pending

function restoreHeap (heap, image) {
  phases.restore = performance.now() - started // Emscripten's linking and runtime set-up are done
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

let asmScript // { compiled: vm.Script, script: { source, restoreHeap } } when loaded as a script
/** Pyodide's module factory, how it was loaded (`phases.codeCache`) and whether the heap restore is patched. */
async function loadAsm () {
  const file = path.join(boot.pyodideDir, 'pyodide.asm.mjs')
  const cache = boot.codeCachePath && boot.mode !== 'make-snapshot' ? readCodeCache(boot.codeCachePath) : { state: 'none' }
  let script = cache.script
  if (script === undefined) {
    try {
      script = asmAsScript(fs.readFileSync(file, 'utf8'))
    } catch {
      script = undefined // the module import below reports what is wrong
    }
  }
  if (script !== undefined) {
    try {
      const compiled = new vm.Script(script.source, { filename: file, cachedData: cache.data })
      const factory = compiled.runInThisContext()({
        url: pathToFileURL(file).href,
        import: (specifier) => import(specifier),
        wrapperModules: Object.create(null),
        restoreHeap
      })
      asmScript = { compiled, script }
      return { factory, restoreHeap: script.restoreHeap, state: cache.data === undefined ? cache.state : compiled.cachedDataRejected ? 'rejected' : 'accepted' }
    } catch {
      asmScript = undefined // not valid as a script after all: import it as the module it is
    }
  }
  return { factory: (await import(file)).default, restoreHeap: false, state: 'module' }
}

const asm = await loadAsm()
phases.codeCache = asm.state
const snapshot = boot.mode !== 'make-snapshot' && boot.snapshotPath ? openSnapshot(boot.snapshotPath, asm.restoreHeap) : undefined
const { loadPyodide } = await import(path.join(boot.pyodideDir, 'pyodide.mjs'))
phases.import = performance.now() - started

// Pyodide reads the WASM file again to instantiate it: it gets the bytes
// read above (no second 9.6 MB read), and its instantiate gets the module
// compiled from them.
const realReadFile = fs.promises.readFile
fs.promises.readFile = function readFile (file, ...rest) {
  if (typeof file === 'string' && path.resolve(file) === wasmPath) return Promise.resolve(wasmBytes)
  return realReadFile.call(this, file, ...rest)
}
syncBuiltinESMExports()
const realInstantiate = WebAssembly.instantiate
WebAssembly.instantiate = async function instantiate (source, imports) {
  if (source?.buffer !== wasmBytes.buffer) return await realInstantiate.call(WebAssembly, source, imports)
  WebAssembly.instantiate = realInstantiate
  const module = await wasmModule
  phases.compiled = performance.now() - started
  const instance = await realInstantiate.call(WebAssembly, module, imports)
  phases.instantiated = performance.now() - started
  return { module, instance }
}
const loadOptions = {
  indexURL: boot.pyodideDir + '/',
  env: { PYTHONHASHSEED: '0', HOME: '/home/pyodide', TZ: 'UTC', LANG: 'C.UTF-8' },
  stdout: () => {},
  stderr: () => {},
  createPyodideModule: asm.factory
}
if (boot.mode === 'make-snapshot') loadOptions._makeSnapshot = true
else if (snapshot !== undefined) loadOptions._loadSnapshot = snapshot
let py
try {
  py = await loadPyodide(loadOptions)
} finally {
  WebAssembly.instantiate = realInstantiate
  fs.promises.readFile = realReadFile
  syncBuiltinESMExports()
  if (heapImage !== undefined) fs.closeSync(heapImage.fd)
  heapImage = undefined
}
phases.load = performance.now() - started
const [net, tls, dgram, http, https, childProcess] = (await hostModules).map((m) => m.default)

/**
 * The harness definitions live in a module that the snapshot already holds
 * (compiling them costs ~100 ms of lazy WASM compilation in a fresh process).
 */
function harnessModule () {
  const sys = py.pyimport('sys')
  let mod = sys.modules.get('_os2_harness')
  if (mod === undefined) {
    const types = py.pyimport('types')
    const builtins = py.pyimport('builtins')
    mod = types.ModuleType('_os2_harness')
    const dict = mod.__dict__
    builtins.exec(fs.readFileSync(new URL('./meter.py', import.meta.url), 'utf8'), dict)
    builtins.exec(fs.readFileSync(new URL('./harness.py', import.meta.url), 'utf8'), dict)
    sys.modules.set('_os2_harness', mod)
    dict.destroy()
    types.destroy()
    builtins.destroy()
  }
  sys.destroy()
  return mod
}

if (boot.mode === 'make-snapshot') {
  // Warm the stdlib modules every session imports, so a restored snapshot
  // skips that work too. The session setup imports the same list, so unit
  // counts do not depend on whether a snapshot was used.
  py.runPython(fs.readFileSync(new URL('./preload.py', import.meta.url), 'utf8'))
  harnessModule().destroy()
  const bytes = py.makeMemorySnapshot()
  // The code cache goes first: a snapshot without its cache beside it is
  // only slower to start, and the snapshot's presence means "done".
  let codeCacheBytes = 0
  if (boot.codeCachePath && asmScript !== undefined) {
    try {
      const data = asmScript.compiled.createCachedData()
      writeCodeCache(boot.codeCachePath, asmScript.script, data)
      codeCacheBytes = data.length
    } catch {
      codeCacheBytes = 0 // best effort: sessions compile from source without it
    }
  }
  const tmp = boot.snapshotPath + '.' + process.pid + '.tmp'
  fs.writeFileSync(tmp, bytes)
  fs.renameSync(tmp, boot.snapshotPath)
  send({ t: 'snapshot', bytes: bytes.length, codeCacheBytes, ms: performance.now() - started })
  process.exit(0)
}

if (boot.warm) {
  // A pooled process has time to spare: touch the compiler paths a first
  // run needs, so their lazily compiled WASM is ready before hand-out.
  // The metering compiler goes source -> AST objects -> code, so the AST
  // conversions are warmed too (a few rounds: a first compile in a fresh
  // process costs ~2 ms, a warm one ~0.4 ms).
  py.runPython(`
def _os2_warm():
    src = 'import os2\\nfor i in range(3):\\n    x = [i * 2 for i in range(2)]\\n    def f(a, *b, **c):\\n        return {a: b}\\ntry:\\n    pass\\nexcept Exception as e:\\n    print(e)\\n'
    for _ in range(20):
        compile(compile(src, '<warm>', 'exec', 0x400), '<warm>', 'exec')
_os2_warm()
del _os2_warm
`)
}
send({ t: 'loaded', ms: performance.now() - started, snapshot: Boolean(boot.snapshotPath), phases })

// ----------------------------------------------------- session state

let outputLimit = 1 << 20
let outputUsed = 0
let outputCut = false

function writer (stream) {
  return {
    write (buf) {
      if (outputCut) return buf.length
      const room = outputLimit - outputUsed
      const take = Math.min(room, buf.length)
      if (take > 0) {
        send({ t: 'out', s: stream, b: Buffer.from(buf.buffer, buf.byteOffset, take).toString('base64') })
        outputUsed += take
      }
      if (take < buf.length) {
        // Backstop for writes that bypass the Python-side cap (os.write on
        // fd 1, sys.__stdout__): the parent kills the run after a grace.
        outputCut = true
        send({ t: 'output_limit', limit: outputLimit })
      }
      return buf.length
    },
    isatty: false
  }
}

/** Deterministic replacement for the OS entropy source, seeded by the parent. */
function seededFill (seed) {
  let counter = 0n
  let pool = Buffer.alloc(0)
  return function randomFillSync (view, offset = 0, size) {
    const bytes = Buffer.from(view.buffer, view.byteOffset, view.byteLength)
    const end = size === undefined ? bytes.length : offset + size
    let at = offset
    while (at < end) {
      if (pool.length === 0) {
        pool = crypto.createHash('sha256').update(`os2-entropy:${seed}:${counter++}`).digest()
      }
      const n = Math.min(pool.length, end - at)
      pool.copy(bytes, at, 0, n)
      pool = pool.subarray(n)
      at += n
    }
    return view
  }
}

// ----------------------------------------------- the os2 device (bridge)

function installDevice () {
  const FS = py.FS
  const dev = FS.makedev(64, 0)
  let pending = Buffer.alloc(0)
  let reply = Buffer.alloc(0)
  FS.registerDevice(dev, {
    open () {},
    close () {},
    read (_stream, buffer, offset, length) {
      const n = Math.min(length, reply.length)
      buffer.set(reply.subarray(0, n), offset)
      reply = reply.subarray(n)
      return n
    },
    write (_stream, buffer, offset, length) {
      pending = Buffer.concat([pending, Buffer.from(buffer.subarray(offset, offset + length))])
      for (let nl = pending.indexOf(10); nl >= 0; nl = pending.indexOf(10)) {
        const msg = JSON.parse(pending.subarray(0, nl).toString('utf8'))
        pending = pending.subarray(nl + 1)
        if (msg.t === 'call') {
          send({ t: 'call', id: msg.id, capability: String(msg.capability), args: msg.args ?? null })
          for (;;) {
            const answer = receive()
            if (answer.t === 'reply' && answer.id === msg.id) {
              reply = Buffer.concat([reply, Buffer.from(JSON.stringify(answer) + '\n')])
              break
            }
            if (answer.t === 'close') process.exit(0)
          }
        } else if (msg.t === 'violation') {
          violation(String(msg.kind), msg.detail)
        } else if (msg.t === 'stop') {
          send({ t: 'stop', reason: String(msg.reason), units: Number(msg.units) || 0 })
        } else if (msg.t === 'output_limit') {
          send({ t: 'output_limit', limit: outputLimit })
        }
        // Anything else is dropped: the script can write to this fd too,
        // and must not be able to forge 'done' or 'out' messages.
      }
      return length
    }
  })
  FS.mkdev('/dev/os2', dev)
}

// --------------------------------------------- host-side hardening (JS)

function deny (kind, what) {
  return function denied () {
    violation(kind, what)
    const err = new Error(`Access denied by the OS2 sandbox: ${what}`)
    err.code = 'ERR_ACCESS_DENIED'
    throw err
  }
}

function wrapAccessDenied (obj, label) {
  for (const key of Object.keys(obj)) {
    const fn = obj[key]
    if (typeof fn !== 'function' || /^[A-Z]/.test(key)) continue
    obj[key] = function (...args) {
      try {
        const out = fn.apply(this, args)
        if (out && typeof out.then === 'function') {
          return out.catch((err) => {
            if (err?.code === 'ERR_ACCESS_DENIED') violation('permission_denied', `${label}.${key} ${String(args[0])}`)
            throw err
          })
        }
        return out
      } catch (err) {
        if (err?.code === 'ERR_ACCESS_DENIED') violation('permission_denied', `${label}.${key} ${String(args[0])}`)
        throw err
      }
    }
  }
}

function hardenHost () {
  // Network: blocked by the network namespace where the OS has one; these
  // patches are the second line (and the only one without a namespace).
  net.Socket.prototype.connect = deny('network', 'net.Socket.connect')
  net.connect = net.createConnection = deny('network', 'net.connect')
  net.Server.prototype.listen = deny('network', 'net.Server.listen')
  tls.connect = deny('network', 'tls.connect')
  dgram.createSocket = deny('network', 'dgram.createSocket')
  http.request = http.get = deny('network', 'http.request')
  https.request = https.get = deny('network', 'https.request')
  for (const name of ['fetch', 'WebSocket', 'EventSource', 'XMLHttpRequest']) {
    if (name in globalThis) {
      Object.defineProperty(globalThis, name, { value: deny('network', name), configurable: false, writable: false })
    }
  }
  // Processes: the permission model refuses them; report the attempt too.
  for (const key of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
    childProcess[key] = deny('process_spawn', `child_process.${key}`)
  }
  wrapAccessDenied(fs, 'fs')
  wrapAccessDenied(fs.promises, 'fs.promises')
  syncBuiltinESMExports()
  // Native bindings and addons are the way around all of the above.
  process.binding = deny('native_binding', 'process.binding')
  process._linkedBinding = deny('native_binding', 'process._linkedBinding')
  process.dlopen = deny('native_binding', 'process.dlopen')
  process.kill = deny('process_signal', 'process.kill')
}

// ------------------------------------------------------------ commands

let session = null

function init (msg) {
  const t0 = performance.now()
  const marks = {}
  outputLimit = msg.outputLimitBytes
  crypto.randomFillSync = seededFill(msg.seed)
  syncBuiltinESMExports()
  if (msg.scratchDir) {
    py.FS.mkdirTree('/session')
    py.FS.mount(py.FS.filesystems.NODEFS, { root: msg.scratchDir }, '/session')
  } else {
    py.FS.mkdirTree('/session')
  }
  installDevice()
  // Installed pure-Python wheels (SHA-256 checked by the parent), unpacked
  // into site-packages before any user code or hardening.
  if ((msg.wheels ?? []).length > 0) {
    const extractDir = py.runPython("import sysconfig; sysconfig.get_paths()['purelib']")
    for (const wheel of msg.wheels) py.unpackArchive(new Uint8Array(Buffer.from(wheel.b64, 'base64')), 'wheel', { extractDir })
    py.runPython('import importlib; importlib.invalidate_caches()')
  }
  py.setStdout(writer('stdout'))
  py.setStderr(writer('stderr'))
  marks.fs = performance.now() - t0
  const mod = harnessModule()
  const setup = mod.setup
  const hooks = setup(JSON.stringify({ seed: String(msg.seed), epochNs: String(msg.epochNs), outputLimitBytes: msg.outputLimitBytes }))
  session = {
    begin: hooks.get('begin'),
    execUser: hooks.get('exec_user'),
    end: hooks.get('end')
  }
  marks.setup = performance.now() - t0
  const harden = hooks.get('harden')
  hooks.destroy()
  setup.destroy()
  mod.destroy()
  const sys = py.pyimport('sys')
  sys.modules.pop('_os2_harness', undefined)
  sys.destroy()
  if (msg.hardening) {
    py.unregisterJsModule('js')
    py.unregisterJsModule('pyodide_js')
    harden()
    hardenHost()
  }
  harden.destroy()
  marks.hardened = performance.now() - t0
  send({ t: 'ready', marks })
}

function run (msg) {
  outputUsed = 0
  outputCut = false
  let result
  try {
    session.begin(msg.unitBudget, JSON.stringify(msg.argv ?? []))
    let exc
    try {
      exc = session.execUser(msg.code)
    } catch {
      // The stop was raised in the harness frame itself; end() reads why.
      exc = undefined
    }
    result = JSON.parse(session.end(exc ?? undefined))
    if (exc && typeof exc.destroy === 'function') exc.destroy()
  } catch (err) {
    // Pyodide itself failed (a fatal error): this interpreter is unusable.
    send({ t: 'done', id: msg.id, status: 'error', units: 0, error: { code: 'SANDBOX_CRASHED', message: String(err?.message ?? err).slice(0, 2000) }, fatal: true })
    process.exit(70)
  }
  send({ t: 'done', id: msg.id, ...result })
}

for (;;) {
  const msg = receive()
  if (msg.t === 'init') init(msg)
  else if (msg.t === 'run') run(msg)
  else if (msg.t === 'close') process.exit(0)
}
