// Pyodide's JS (pyodide.asm.mjs, Emscripten's output) loaded from a V8 code
// cache made with the memory snapshot, for the sandbox child (host.mjs).
// Plain JavaScript: the child runs on bare `node`.
//
// pyodide.asm.mjs (1.2 MB of JS) costs ~55 ms of main thread to parse as a
// module, and more to compile lazily the functions the restore runs. Node 20 has no module compile cache, but a `vm.Script` takes
// V8 code-cache data: the file is loaded as a script (a function of the two
// module-only things it uses, `import.meta.url` and dynamic `import()`),
// and the cache is written once, beside the snapshot, by the process that
// makes the snapshot (after Pyodide ran, so the lazily compiled functions
// are in it). A source of another shape is imported as a module, as before.

import fs from 'node:fs'
import crypto from 'node:crypto'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import vm from 'node:vm'
import { createLinker } from './emscripten-link.mjs'

const ASM_HEAD = 'async function _createPyodideModule('
const ASM_TAIL = 'export default _createPyodideModule;'
// Token counts of the Pyodide version this was written against: a new
// version with other module-only syntax falls back to the module import.
const ASM_META_URLS = 3
const ASM_DYNAMIC_IMPORTS = 15
// Exact-text patches, each applied only when it occurs exactly once:
const ASM_PATCHES = [
  // Emscripten compiles a tiny WASM module per JS function it puts in the
  // function table (261 at start-up); the module depends only on its bytes,
  // so one per signature is compiled and reused (same bytes, same module;
  // each function still gets its own instance), and the ones a start-up
  // needs are compiled in the background beforehand (emscripten-link.mjs).
  ['var module=new WebAssembly.Module(bytes);', 'var module=__os2.link.wrapperModule(sig,bytes);'],
  // The snapshot restore copies the heap image into WASM memory: the child
  // reads it from the file straight into that memory instead (no 31 MB
  // buffer, no second copy; see `restoreHeap`).
  ['return Module.HEAP8.set(t),l}', 'return __os2.restoreHeap(Module.HEAP8,t),l}'],
  // Every export goes into `wasmImports` unless defined there: the same
  // loop without a pair array and a closure per export (8,560 of them).
  ['var mergeLibSymbols=(exports,libName)=>{for(var[sym,exp]of Object.entries(exports)){const setImport=target=>{if(!isSymbolDefined(target)){wasmImports[target]=exp}};setImport(sym);const main_alias="__main_argc_argv";if(sym=="main"){setImport(main_alias)}if(sym==main_alias){setImport("main")}}};',
    'var mergeLibSymbols=(exports,libName)=>{var syms=Object.keys(exports);for(var i=0;i<syms.length;i++){var sym=syms[i];var exp=exports[sym];if(!isSymbolDefined(sym)){wasmImports[sym]=exp}if(sym=="main"&&!isSymbolDefined("__main_argc_argv")){wasmImports["__main_argc_argv"]=exp}if(sym=="__main_argc_argv"&&!isSymbolDefined("main")){wasmImports["main"]=exp}}};']
]
// The linking replay (emscripten-link.mjs): applied only if every one of
// these occurs exactly once, else none is.
const LINK_PATCHES = [
  // GOT entries the replay left to be made on demand are made when asked for.
  ['get(weakImports,symName){var rtn=GOT[symName];', 'get(weakImports,symName){var rtn=GOT[symName]??__os2.link.materialize(GOT,symName);'],
  ['var existingEntry=GOT[symName]&&GOT[symName].value!=-1;', 'var existingEntry=(GOT[symName]??__os2.link.materialize(GOT,symName))&&GOT[symName].value!=-1;'],
  // The main module's exports: replayed from the record, or linked (and recorded) as before.
  ['updateGOT(origExports);LDSO.init();', '__os2.link.main(origExports,wasmTable,GOT,freeTableIndexes,isInternalSym,updateGOT,m=>{functionsInTableMap=m});LDSO.init();'],
  // A function missing from the replay's map is looked up in the whole table, unless no table can hold it.
  ['var getFunctionAddress=func=>{if(!functionsInTableMap){functionsInTableMap=new WeakMap;updateTableMap(0,wasmTable.length)}return functionsInTableMap.get(func)||0};',
    'var getFunctionAddress=func=>{if(!functionsInTableMap){functionsInTableMap=new WeakMap;updateTableMap(0,wasmTable.length)}var addr=functionsInTableMap.get(func);if(addr===undefined&&__os2.link.partial&&__os2.link.mayBeInTable(func)){__os2.link.partial=false;updateTableMap(0,wasmTable.length);addr=functionsInTableMap.get(func)}return addr||0};'],
  // The trampoline is a function of an instance made on the line before, of
  // a module (in this source) with no element segment and no start function.
  ['return addFunction(trampolineInstance.exports.trampoline_call)}', 'return __os2.link.addFresh(trampolineInstance.exports.trampoline_call,addFunction)}'],
  // A function that lookup found a table refuses is wrapped straight away,
  // not after a second refusal (a TypeError each, 262 at start-up).
  ['try{setWasmTableEntry(ret,func)}catch(err){if(!(err instanceof TypeError)){throw err}var wrapped=convertJsFunctionToWasm(func,sig);setWasmTableEntry(ret,wrapped)}',
    'if(__os2.link.refusedByTables(func)){setWasmTableEntry(ret,convertJsFunctionToWasm(func,sig))}else try{setWasmTableEntry(ret,func)}catch(err){if(!(err instanceof TypeError)){throw err}var wrapped=convertJsFunctionToWasm(func,sig);setWasmTableEntry(ret,wrapped)}']
]
const CACHE_MAGIC = Buffer.from('OS2-V8-CODE-CACHE-3\n')

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
  const once = (find) => {
    const at = src.indexOf(find)
    return at < 0 || at >= tail || src.indexOf(find, at + 1) >= 0 ? -1 : at
  }
  for (const [find, replace] of ASM_PATCHES) {
    const at = once(find)
    if (at < 0) continue
    edits.push([at, find.length, replace])
    if (find === ASM_PATCHES[1][0]) restoreHeap = true
  }
  const linkAt = LINK_PATCHES.map(([find]) => once(find))
  const link = linkAt.every((at) => at >= 0)
  if (link) LINK_PATCHES.forEach(([find, replace], i) => edits.push([linkAt[i], find.length, replace]))
  edits.sort((a, b) => a[0] - b[0])
  const parts = ["(function (__os2) {'use strict';"]
  let from = 0
  for (const [at, length, replacement] of edits) {
    if (at < from) return undefined // overlapping edits: not the expected text
    parts.push(src.slice(from, at), replacement)
    from = at + length
  }
  parts.push(src.slice(from, tail), '\nreturn _createPyodideModule\n})')
  return { source: parts.join(''), restoreHeap, link }
}

/**
 * The code cache file: `CACHE_MAGIC`, the SHA-256 of the rest, then the
 * rest: a flags byte (1 = the heap-restore patch is in the source, 2 = the
 * linking patches are), the script source's length in bytes (u32 LE), the
 * linking record's length (u32 LE), the source (UTF-8), the linking record
 * (JSON, see emscripten-link.mjs; may be empty) and V8's cache data. The
 * source is the one V8 compiled when the cache was made, so a session does
 * not read and rewrite pyodide.asm.mjs again. V8 checks its data against
 * the source's length and its own version and flags, but does not checksum
 * it in release builds: the SHA-256 does (for the record too).
 */
function readCodeCache (file) {
  let buf
  try { buf = fs.readFileSync(file) } catch { return { state: 'missing' } }
  const head = CACHE_MAGIC.length
  if (buf.length <= head + 32 + 9 || !buf.subarray(0, head).equals(CACHE_MAGIC)) return { state: 'corrupt' }
  const rest = buf.subarray(head + 32)
  if (!crypto.createHash('sha256').update(rest).digest().equals(buf.subarray(head, head + 32))) return { state: 'corrupt' }
  const sourceEnd = 9 + rest.readUInt32LE(1)
  const recordEnd = sourceEnd + rest.readUInt32LE(5)
  if (recordEnd > rest.length) return { state: 'corrupt' }
  let linkRecord
  try {
    linkRecord = recordEnd > sourceEnd ? JSON.parse(rest.toString('utf8', sourceEnd, recordEnd)) : undefined
  } catch {
    return { state: 'corrupt' }
  }
  return {
    state: 'found',
    script: { source: rest.toString('utf8', 9, sourceEnd), restoreHeap: (rest[0] & 1) !== 0, link: (rest[0] & 2) !== 0 },
    linkRecord,
    data: rest.subarray(recordEnd)
  }
}

function writeCodeCache (file, script, linkRecord, data) {
  const source = Buffer.from(script.source, 'utf8')
  const record = Buffer.from(linkRecord === undefined ? '' : JSON.stringify(linkRecord), 'utf8')
  const meta = Buffer.alloc(9)
  meta[0] = (script.restoreHeap ? 1 : 0) | (script.link ? 2 : 0)
  meta.writeUInt32LE(source.length, 1)
  meta.writeUInt32LE(record.length, 5)
  const rest = Buffer.concat([meta, source, record, data])
  const tmp = file + '.' + process.pid + '.tmp'
  fs.writeFileSync(tmp, Buffer.concat([CACHE_MAGIC, crypto.createHash('sha256').update(rest).digest(), rest]))
  fs.renameSync(tmp, file)
}

/**
 * Pyodide's module factory: compiled from the V8 code cache at
 * `codeCachePath` when there is a valid one, else from the rewritten
 * script, else imported as the module it is. `restoreHeap` is what the
 * heap-restore patch calls. Returns how it was loaded (`state`, reported as
 * `phases.codeCache`), whether the restore patch is in, the linker of the
 * linking patches (`link.state` says whether the replay ran; undefined
 * when the file was imported as a module), and, when it was
 * loaded as a script, `saveCodeCache(file)` for the snapshot maker (call it
 * after Pyodide ran, so the lazily compiled functions are in the cache).
 *
 * @param {{ pyodideDir: string, codeCachePath?: string, makingSnapshot: boolean, restoreHeap: (heap: Int8Array, image: Uint8Array) => void }} opts
 */
export async function loadPyodideFactory ({ pyodideDir, codeCachePath, makingSnapshot, restoreHeap }) {
  const file = path.join(pyodideDir, 'pyodide.asm.mjs')
  const cache = codeCachePath && !makingSnapshot ? readCodeCache(codeCachePath) : { state: 'none' }
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
      const link = createLinker({ record: script.link ? cache.linkRecord : undefined, recording: makingSnapshot })
      const factory = compiled.runInThisContext()({
        url: pathToFileURL(file).href,
        import: (specifier) => import(specifier),
        restoreHeap,
        link
      })
      return {
        factory,
        restoreHeap: script.restoreHeap,
        link,
        state: cache.data === undefined ? cache.state : compiled.cachedDataRejected ? 'rejected' : 'accepted',
        /** Writes the code cache; returns its size in bytes. */
        saveCodeCache: (target) => {
          const data = compiled.createCachedData()
          writeCodeCache(target, script, link.recorded(), data)
          return data.length
        }
      }
    } catch {
      // not valid as a script after all: import it as the module it is
    }
  }
  return { factory: (await import(file)).default, restoreHeap: false, link: undefined, state: 'module', saveCodeCache: undefined }
}
