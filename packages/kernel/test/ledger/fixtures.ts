import { dirname } from 'node:path'
import { createLedger } from '../../src/ledger/index.ts'
import type { EventDraft, EventEnvelope, Ledger } from '../../src/ledger/index.ts'
import type { LedgerFile, LedgerFs } from '../../node/index.ts'

/** A deterministic draft for event `i`, with a payload that exercises escapes and unicode. */
export function draft (i: number): EventDraft {
  return {
    tick: i * 3,
    type: i % 5 === 0 ? 'scheduled' : 'custom',
    capability_id: i % 2 === 0 ? 'memory.kv.write' : null,
    token_id: `tok-${i % 7}`,
    payload: { i, text: `value "${i}" \\ é ✓ \n`, nested: { list: [i, true, null, 1.5], z: 'last' } }
  }
}

/** A ledger holding `n` events built from `draft()`. */
export function ledgerOf (n: number): Ledger {
  const ledger = createLedger({})
  for (let i = 0; i < n; i++) ledger.append(draft(i))
  return ledger
}

export function eventsOf (n: number): EventEnvelope[] {
  return [...ledgerOf(n).events()]
}

/** Structured deep copy of envelopes, so tests can tamper without touching the ledger. */
export function clone<T> (value: T): T {
  return structuredClone(value)
}

/** An in-memory `LedgerFs` that counts writes and syncs; files are plain byte arrays. */
export interface MemoryFs extends LedgerFs {
  files: Map<string, Uint8Array>
  writes: number
  syncs: number
  /** Makes the next write fail. */
  failNextWrite: boolean
}

export function createMemoryFs (): MemoryFs {
  const files = new Map<string, Uint8Array>()
  const dirs = new Set<string>()
  const fs: MemoryFs = {
    files,
    writes: 0,
    syncs: 0,
    failNextWrite: false,
    async mkdir (path) { dirs.add(path) },
    async exists (path) {
      if (dirs.has(path) || files.has(path)) return true
      for (const name of files.keys()) if (name.startsWith(path + '/')) return true
      return false
    },
    async readdir (path) {
      const out: string[] = []
      for (const name of files.keys()) if (dirname(name) === path) out.push(name.slice(path.length + 1))
      return out
    },
    async readFile (path) {
      const f = files.get(path)
      return f === undefined ? undefined : Uint8Array.from(f)
    },
    async openAppend (path): Promise<LedgerFile> {
      if (!files.has(path)) files.set(path, new Uint8Array(0))
      return {
        async write (data) {
          // Yield like a real write, so concurrent appends can pile up behind it.
          await new Promise<void>(resolve => setImmediate(resolve))
          if (fs.failNextWrite) {
            fs.failNextWrite = false
            throw new Error('EIO: simulated write failure')
          }
          fs.writes++
          const old = files.get(path) ?? new Uint8Array(0)
          const next = new Uint8Array(old.length + data.length)
          next.set(old)
          next.set(data, old.length)
          files.set(path, next)
        },
        async datasync () {
          await new Promise<void>(resolve => setImmediate(resolve))
          fs.syncs++
        },
        async close () {}
      }
    },
    async truncate (path, length) {
      const f = files.get(path)
      if (f !== undefined) files.set(path, f.slice(0, length))
    },
    async syncDir () {}
  }
  return fs
}
