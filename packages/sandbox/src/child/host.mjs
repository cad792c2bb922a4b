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
// Every built-in module the child uses is imported here, before the V8
// flags below are set: V8 accepts Node's code cache for its built-ins only
// under the flags it was made with (none), so one loaded later would be
// compiled from source.
import fs from 'node:fs'
import crypto from 'node:crypto'
import net from 'node:net'
import tls from 'node:tls'
import dgram from 'node:dgram'
import http from 'node:http'
import https from 'node:https'
import childProcess from 'node:child_process'
import path from 'node:path'
import { syncBuiltinESMExports } from 'node:module'
import v8 from 'node:v8'
import { loadPyodideFactory } from './pyodide-code-cache.mjs'
import { createSnapshotReader } from './snapshot-reader.mjs'
import { layoutDigest } from './emscripten-link.mjs'
import { optimizeEverythingThatRuns, readWasmCache, wasmStamp, writeWasmCache } from './wasm-code-cache.mjs'

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
if (boot.mode === 'make-wasm-cache' && boot.optimizeAll === true) optimizeEverythingThatRuns()

const started = performance.now()
const phases = {}
// The WASM module comes from the cache made with the snapshot
// (wasm-code-cache.mjs: the functions a start runs, compiled), else from a
// compile that overlaps the rest of the start-up: V8 decodes and validates
// on background threads (functions are compiled lazily on first call)
// while the main thread loads Pyodide's JS (pyodide.asm.mjs, 1.2 MB).
const wasmPath = path.join(boot.pyodideDir, 'pyodide.asm.wasm')
const wasmBytes = fs.readFileSync(wasmPath)
const wasmFileStamp = wasmStamp(wasmBytes)
const wasmCache = boot.wasmCachePath !== undefined && boot.mode === undefined ? readWasmCache(boot.wasmCachePath, wasmFileStamp, wasmBytes) : { state: 'none' }
phases.wasmCache = wasmCache.state
const wasmModule = wasmCache.module !== undefined ? Promise.resolve(wasmCache.module) : WebAssembly.compile(wasmBytes)
wasmModule.catch(() => {}) // Pyodide's own instantiate reports a failure
let wasmInstance // the main module's instance and module, for `make-wasm-cache`
let wasmCompiled

const snapshotReader = createSnapshotReader(() => { phases.restore = performance.now() - started })
const asm = await loadPyodideFactory({ pyodideDir: boot.pyodideDir, codeCachePath: boot.codeCachePath, makingSnapshot: boot.mode === 'make-snapshot', restoreHeap: snapshotReader.restoreHeap })
phases.codeCache = asm.state
// The wrapper modules the linking replay needs compile on V8's background
// threads; with the main module from the cache nothing else needs those
// threads now, and the awaits before the instantiate let their results in.
if (wasmCache.module !== undefined) asm.link?.precompileWrappers()
const snapshot = boot.mode !== 'make-snapshot' && boot.snapshotPath ? snapshotReader.openSnapshot(boot.snapshotPath, asm.restoreHeap) : undefined
const { loadPyodide } = await import(path.join(boot.pyodideDir, 'pyodide.mjs'))
phases.import = performance.now() - started

// Pyodide reads the WASM file again to instantiate it: it gets the bytes
// read above (no second 9.6 MB read), and its instantiate gets the module
// compiled from them. The standard library (2.5 MB) and the lock file are
// read at once too: read asynchronously, in 512 KiB chunks that each wait
// for a turn of the busy main thread, they kept it idle before the restore.
const realReadFile = fs.promises.readFile
const readAtOnce = new Set(['python_stdlib.zip', 'pyodide-lock.json'].map((f) => path.join(boot.pyodideDir, f)))
fs.promises.readFile = function readFile (file, ...rest) {
  const resolved = typeof file === 'string' ? path.resolve(file) : undefined
  if (resolved === wasmPath) return Promise.resolve(wasmBytes)
  if (readAtOnce.has(resolved)) {
    try {
      return Promise.resolve(fs.readFileSync(resolved, ...rest))
    } catch (err) {
      return Promise.reject(err)
    }
  }
  return realReadFile.call(this, file, ...rest)
}
syncBuiltinESMExports()
const realInstantiate = WebAssembly.instantiate
WebAssembly.instantiate = async function instantiate (source, imports) {
  if (source?.buffer !== wasmBytes.buffer) return await realInstantiate.call(WebAssembly, source, imports)
  WebAssembly.instantiate = realInstantiate
  const module = await wasmModule
  phases.compiled = performance.now() - started
  if (wasmCache.module === undefined) asm.link?.precompileWrappers()
  const instance = await realInstantiate.call(WebAssembly, module, imports)
  wasmInstance = instance
  wasmCompiled = module
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
  snapshotReader.close()
}
phases.load = performance.now() - started
phases.link = asm.link?.state ?? 'none'
if (boot.linkDigest) phases.linkDigest = layoutDigest(py._module, asm.link, (data) => crypto.createHash('sha256').update(data).digest('hex'))

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
  if (boot.codeCachePath && asm.saveCodeCache !== undefined) {
    try {
      codeCacheBytes = asm.saveCodeCache(boot.codeCachePath)
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
  else if (msg.t === 'save_wasm_cache' && boot.mode === 'make-wasm-cache') saveWasmCache()
}

/** The `make-wasm-cache` child, after the parent's warm-up ran: writes the cache and exits. */
function saveWasmCache () {
  const t0 = performance.now()
  const { bytes, tieredUp } = writeWasmCache(boot.wasmCachePath, wasmFileStamp, wasmCompiled, wasmInstance, sleepMs)
  send({ t: 'wasm_cache', bytes, tieredUp, ms: performance.now() - t0 })
  process.exit(0)
}
