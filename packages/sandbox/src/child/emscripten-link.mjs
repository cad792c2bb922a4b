// Emscripten's dynamic linking of Pyodide's main module, replayed from a
// layout recorded with the snapshot, for the sandbox child (host.mjs).
// Plain JavaScript: the child runs on bare `node`.
//
// When Pyodide's WASM is instantiated, Emscripten's `updateGOT` walks all
// 8,560 exports: for each function it asks `getFunctionAddress` whether the
// function already has a slot in the function table (the first call scans
// the ~8,700-slot table with `table.get`, making a JS function object for
// every entry), else appends a slot (5,182 of them, one `grow(1)` each);
// and it makes a `WebAssembly.Global` for every export (the GOT, which only
// side modules loaded later, and the few GOT imports of the main module,
// read). ~30-40 ms of a cold start.
//
// The result is a function of the WASM and JS bytes only (the same for
// every process), and the memory snapshot depends on it (it holds table
// indices). The process that makes the snapshot runs the unpatched
// `updateGOT` and records, per export, what it produced; the record is
// stored in the code cache file (checksummed, keyed like the snapshot). A
// session replays it: one `grow`, one `set` per new slot, GOT entries made
// only when something asks for them, and no table scan. Before anything is
// changed the record is checked against the live module (table length, no
// free slots, every export's name, order and kind, and each slot the record
// says an export already occupies, with `table.get`); any difference and
// the unpatched `updateGOT` runs instead (`state: 'mismatch'`).
//
// What `getFunctionAddress` answers stays the same: the replay fills its
// map with every export's slot, as the unpatched path does; a function not
// in it is looked up in the whole table (the scan the unpatched path makes
// first, now made on demand), except for functions that cannot be in a
// table at all: plain JS functions (a table holds only WASM functions:
// `table.set` refuses anything else with a TypeError, and `table.get`
// returns WASM functions) and the trampoline Pyodide makes at start-up from
// a module of its own with no element segment and no start function.

const RECORD_VERSION = 1

/**
 * @param {{ record?: unknown, recording: boolean }} opts
 *   `record`: the layout stored with the code cache (parsed JSON), if any;
 *   `recording`: this process makes the snapshot (run unpatched, record).
 */
export function createLinker ({ record, recording }) {
  /** GOT entries not made yet: symbol -> value. */
  const pending = new Map()
  /** Functions known not to be in the table although they are WASM functions (the fresh trampoline). */
  const fresh = new Set()
  const probeTable = new WebAssembly.Table({ element: 'anyfunc', initial: 1 })
  /** Functions `table.set` refused (plain JS functions), as `mayBeInTable` found. */
  const refused = new WeakSet()
  let made // the record made by this process (recording)
  /** Wrapper modules by signature: { bytes, module }, module set once compiled. */
  const wrappers = new Map()
  const linker = {
    /** How the main module was linked: 'replayed', 'recorded', 'mismatch', 'none'. */
    state: 'none',
    /** The map in `getFunctionAddress` holds only the exports' slots (a miss may need the scan). */
    partial: false,

    /**
     * Replaces `updateGOT(origExports)` for the main module.
     * @param {Record<string, unknown>} exports the instance's exports, unwrapped
     * @param {WebAssembly.Table} table
     * @param {Record<string, WebAssembly.Global>} GOT
     * @param {number[]} freeTableIndexes
     * @param {(name: string) => boolean} isInternalSym
     * @param {(exports: Record<string, unknown>) => void} updateGOT the unpatched linker
     * @param {(map: WeakMap<Function, number>) => void} setFunctionMap sets `functionsInTableMap`
     */
    main (exports, table, GOT, freeTableIndexes, isInternalSym, updateGOT, setFunctionMap) {
      if (recording) {
        const tableBefore = table.length
        updateGOT(exports)
        made = recordLayout(exports, table, GOT, isInternalSym, tableBefore)
        if (made !== undefined) made.wrappers = []
        linker.state = made === undefined ? 'none' : 'recorded'
        return
      }
      const plan = record === undefined ? undefined : planReplay(record, exports, table, freeTableIndexes)
      if (plan === undefined) {
        if (record !== undefined) linker.state = 'mismatch'
        updateGOT(exports)
        return
      }
      const { tableBefore, newFuncs, names, exps, values } = plan
      if (newFuncs.length > 0) table.grow(newFuncs.length)
      for (let i = 0; i < newFuncs.length; i++) table.set(tableBefore + i, newFuncs[i])
      const map = new WeakMap()
      for (let i = 0; i < names.length; i++) {
        const name = names[i]
        const value = values[i]
        if (typeof exps[i] === 'function') map.set(exps[i], value)
        const entry = GOT[name]
        if (entry !== undefined) entry.value = value
        else pending.set(name, value)
      }
      setFunctionMap(map)
      linker.partial = true
      linker.state = 'replayed'
    },

    /** The GOT entry for `name` if the replay left it to be made on demand (else undefined). */
    materialize (GOT, name) {
      const value = pending.get(name)
      if (value === undefined) return undefined
      pending.delete(name)
      const entry = new WebAssembly.Global({ value: 'i32', mutable: true }, value)
      GOT[name] = entry
      return entry
    },

    /** Whether `func` may be in a function table (so a miss in the partial map needs the scan). */
    mayBeInTable (func) {
      if (fresh.has(func)) return false
      const limit = Error.stackTraceLimit
      Error.stackTraceLimit = 0 // the TypeError is only a verdict: no stack to capture
      try {
        probeTable.set(0, func)
      } catch {
        refused.add(func)
        return false // not a WASM function: no table can hold it
      } finally {
        Error.stackTraceLimit = limit
      }
      probeTable.set(0, null)
      return true
    },

    /** Whether `mayBeInTable` found that a table refuses `func` (so `addFunction` wraps it without trying). */
    refusedByTables (func) { return refused.has(func) },

    /** `addFunction` for a function of a module instantiated just now with no element segment and no start function. */
    addFresh (func, addFunction) {
      fresh.add(func)
      try {
        return addFunction(func)
      } finally {
        fresh.delete(func)
      }
    },

    /**
     * Starts compiling, off the main thread, the wrapper modules the recorded
     * start-up made (call it once the main module is compiled, so they do
     * not compete with it); each is used only if its bytes equal what
     * Emscripten asks for.
     */
    precompileWrappers () {
      if (recording || !Array.isArray(record?.wrappers)) return
      for (const w of record.wrappers) {
        if (!Array.isArray(w) || typeof w[0] !== 'string' || typeof w[1] !== 'string' || wrappers.has(w[0])) continue
        const entry = { bytes: new Uint8Array(Buffer.from(w[1], 'base64')), module: undefined }
        wrappers.set(w[0], entry)
        WebAssembly.compile(entry.bytes).then((module) => { entry.module ??= module }, () => {})
      }
    },

    /**
     * The module for a JS function wrapper of signature `sig` (Emscripten's
     * `convertJsFunctionToWasm`): compiled once per signature, in the
     * background when the record lists it, else here.
     */
    wrapperModule (sig, bytes) {
      let entry = wrappers.get(sig)
      if (entry === undefined || !sameBytes(entry.bytes, bytes)) {
        entry = { bytes: Uint8Array.from(bytes), module: undefined }
        wrappers.set(sig, entry)
      }
      entry.module ??= new WebAssembly.Module(entry.bytes)
      return entry.module
    },

    /** Names whose GOT entry is still to be made (for `layoutDigest`). */
    pendingNames () { return [...pending.keys()] },

    /** The layout this process recorded (recording), to be stored with the code cache. */
    recorded () {
      if (made !== undefined) made.wrappers = [...wrappers].map(([sig, { bytes }]) => [sig, Buffer.from(bytes).toString('base64')])
      return made
    }
  }
  return linker
}

function sameBytes (a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * What the unpatched `updateGOT` produced, export by export: `kinds` has one
 * letter per export in `for-in` order (`s` skipped, `f` a function, `g` a
 * global), `values` the slot of each function, `names` the names, each
 * followed by NUL.
 */
function recordLayout (exports, table, GOT, isInternalSym, tableBefore) {
  let names = ''
  let kinds = ''
  const values = []
  for (const name in exports) {
    if (name.includes('\0')) return undefined
    names += name + '\0'
    const exp = exports[name]
    if (isInternalSym(name)) {
      kinds += 's'
    } else if (typeof exp === 'function') {
      kinds += 'f'
      values.push(GOT[name].value)
    } else if (typeof exp?.value === 'number') {
      if (GOT[name].value !== exp.value) return undefined
      kinds += 'g'
    } else {
      kinds += 's'
    }
  }
  return { v: RECORD_VERSION, tableBefore, tableAfter: table.length, names, kinds, values }
}

/**
 * Checks the record against the live module without changing anything;
 * returns the functions that get new slots, in slot order, or undefined
 * when the record does not describe this module.
 */
function planReplay (record, exports, table, freeTableIndexes) {
  if (record === null || typeof record !== 'object' || record.v !== RECORD_VERSION) return undefined
  const { tableBefore, tableAfter, names: recordNames, kinds, values: slots } = record
  if (!Number.isInteger(tableBefore) || !Number.isInteger(tableAfter) || typeof recordNames !== 'string' || typeof kinds !== 'string' || !Array.isArray(slots)) return undefined
  if (table.length !== tableBefore || freeTableIndexes.length !== 0 || tableAfter < tableBefore) return undefined
  const newFuncs = []
  // The exports the GOT gets, with their values.
  const names = []
  const exps = []
  const values = []
  let at = 0
  let k = 0
  let fi = 0
  for (const name in exports) {
    if (k >= kinds.length || !recordNames.startsWith(name, at) || recordNames.charCodeAt(at + name.length) !== 0) return undefined
    at += name.length + 1
    const kind = kinds.charCodeAt(k++)
    if (kind === 115 /* s */) continue
    const exp = exports[name]
    if (kind === 102 /* f */) {
      if (typeof exp !== 'function') return undefined
      const slot = slots[fi++]
      if (!Number.isInteger(slot) || slot < 0) return undefined
      if (slot < tableBefore) {
        if (table.get(slot) !== exp) return undefined // the record says it is already there
      } else if (slot === tableBefore + newFuncs.length) {
        newFuncs.push(exp) // a new slot, in order
      } else if (newFuncs[slot - tableBefore] !== exp) {
        return undefined // an alias of a slot added just before: it must be the same function
      }
      values.push(slot)
    } else if (kind === 103 /* g */) {
      const value = typeof exp === 'function' ? undefined : exp?.value
      if (typeof value !== 'number') return undefined
      values.push(value)
    } else {
      return undefined
    }
    names.push(name)
    exps.push(exp)
  }
  if (k !== kinds.length || at !== recordNames.length || fi !== slots.length || tableBefore + newFuncs.length !== tableAfter) return undefined
  return { tableBefore, newFuncs, names, exps, values }
}

/**
 * SHA-256 of the linked layout: every function-table slot (the function's
 * `name`, which for a WASM function is its index in its module, or `-`) and
 * every GOT entry's value, the ones the replay left pending included (they
 * are made here). The same on the replayed and the unpatched path; for
 * tests (`linkDigest` boot option).
 *
 * @param {{ wasmTable: WebAssembly.Table, GOT: Record<string, WebAssembly.Global> }} Module Emscripten's module object
 * @param {{ materialize: (GOT: object, name: string) => unknown, pendingNames: () => string[] } | undefined} linker
 * @param {(data: string) => string} sha256
 */
export function layoutDigest (Module, linker, sha256) {
  const { wasmTable: table, GOT } = Module
  const parts = [String(table.length)]
  for (let i = 0; i < table.length; i++) parts.push(table.get(i)?.name ?? '-')
  for (const name of linker?.pendingNames() ?? []) linker.materialize(GOT, name)
  for (const name of Object.keys(GOT).sort()) parts.push(`${name}=${GOT[name].value}`)
  return sha256(parts.join('\n'))
}
