// WASM sidecar runner: one process per Python session that uses
// `os2.modules`. Started by the parent (never by the sandbox child) with an
// empty environment and, where the OS allows, its own network namespace.
// Node 20's permission model refuses `node:wasi` outright, so this process
// runs without it; the WASM code can only reach what its imports give it:
// WASI preview1 with no preopened directories, no args and no environment.
//
// Protocol: one JSON object per line on stdin / stdout.
//   { t: 'load', modules: [{ name, b64 }] }       -> { t: 'loaded' } | { t: 'error', message }
//   { t: 'call', id, module, export, args: [int] } -> { t: 'result', id, ok, value | error }
import { WASI } from 'node:wasi'
import readline from 'node:readline'

const instances = new Map()

function reply (msg) { process.stdout.write(JSON.stringify(msg) + '\n') }

function load (modules) {
  for (const m of modules) {
    const wasi = new WASI({ version: 'preview1', args: [], env: {}, preopens: {}, returnOnExit: true })
    const mod = new WebAssembly.Module(Buffer.from(m.b64, 'base64'))
    const instance = new WebAssembly.Instance(mod, wasi.getImportObject())
    if (typeof instance.exports._initialize === 'function' && instance.exports.memory instanceof WebAssembly.Memory) wasi.initialize(instance)
    instances.set(m.name, instance)
  }
}

function call (msg) {
  const instance = instances.get(msg.module)
  if (instance === undefined) return { ok: false, error: { code: 'UNKNOWN_MODULE', message: `No module ${msg.module}` } }
  const fn = instance.exports[msg.export]
  if (typeof fn !== 'function') return { ok: false, error: { code: 'UNKNOWN_EXPORT', message: `Module ${msg.module} has no exported function ${msg.export}` } }
  try {
    const out = fn(...msg.args)
    const value = typeof out === 'bigint' ? Number(out) : (out ?? null)
    return { ok: true, value }
  } catch (err) {
    return { ok: false, error: { code: 'MODULE_TRAP', message: `${msg.module}.${msg.export} trapped: ${err?.message ?? err}` } }
  }
}

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const msg = JSON.parse(line)
  if (msg.t === 'load') {
    try {
      load(msg.modules)
      reply({ t: 'loaded' })
    } catch (err) {
      reply({ t: 'error', message: String(err?.message ?? err) })
    }
  } else if (msg.t === 'call') {
    reply({ t: 'result', id: msg.id, ...call(msg) })
  }
})
rl.on('close', () => process.exit(0))
