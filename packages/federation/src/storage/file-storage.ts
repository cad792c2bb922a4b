import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { canonicalize } from '@os2/crypto'
import { parseRevocation } from '../bundle/revocation.ts'
import type { Revocation } from '../bundle/revocation.ts'
import type { ReplicaStorage, StoredBundle } from './replica-storage.ts'

const EMPTY = Buffer.alloc(0)
const REFUSED = Buffer.from('R')
const NEWLINE = Buffer.from('\n')

/**
 * File storage under `<dataDir>`:
 * `federation/journal.jsonl` (one decided bundle per line, canonical JSON,
 * prefixed `R` when refused but sequence-consuming),
 * `federation/revocations.jsonl`, and `memories/<kind>/<namespace>.ystate`
 * (full Yjs state per memory, written to a temporary file, fsynced, renamed).
 * The journal is authoritative; a torn last line (crash mid-append) is dropped.
 */
export function createFileStorage (dataDir: string): ReplicaStorage {
  const fedDir = join(dataDir, 'federation')
  const memDir = join(dataDir, 'memories')
  mkdirSync(fedDir, { recursive: true })
  mkdirSync(memDir, { recursive: true })
  const journal = join(fedDir, 'journal.jsonl')
  const revocations = join(fedDir, 'revocations.jsonl')
  // The journal stays open for appends (one write per decided bundle, no open/close each time).
  let journalFd: number | undefined

  function lines (path: string): string[] {
    if (!existsSync(path)) return []
    const text = readFileSync(path, 'utf8')
    const end = text.lastIndexOf('\n') + 1
    if (end < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, end)))
    const all = text.slice(0, end).split('\n')
    // The last element is '' after a complete final line; anything else is a torn tail.
    all.pop()
    return all.filter(l => l.length > 0)
  }

  return {
    load () {
      const bundles: StoredBundle[] = lines(journal).map(l => l.startsWith('R')
        ? { bytes: new Uint8Array(Buffer.from(l.slice(1), 'utf8')), accepted: false }
        : { bytes: new Uint8Array(Buffer.from(l, 'utf8')), accepted: true })
      const revs: Revocation[] = []
      for (const l of lines(revocations)) {
        const r = parseRevocation(Buffer.from(l, 'utf8'))
        if (r.ok) revs.push(r.value)
      }
      return { bundles, revocations: revs }
    },
    appendBundle (bytes, accepted) {
      journalFd ??= openSync(journal, 'a')
      const line = Buffer.concat([accepted ? EMPTY : REFUSED, bytes, NEWLINE])
      let off = 0
      while (off < line.length) off += writeSync(journalFd, line, off, line.length - off)
    },
    appendRevocation (r) {
      appendFileSync(revocations, canonicalize(r) + '\n')
    },
    saveMemoryState (memory, state) {
      const [kind, ns] = memory.split(':') as [string, string]
      const dir = join(memDir, kind)
      mkdirSync(dir, { recursive: true })
      const path = join(dir, `${ns}.ystate`)
      const tmp = `${path}.${process.pid}.tmp`
      const fd = openSync(tmp, 'w')
      try {
        writeSync(fd, state)
        fsyncSync(fd)
      } finally {
        closeSync(fd)
      }
      renameSync(tmp, path)
    },
    close () {
      if (journalFd !== undefined) closeSync(journalFd)
      journalFd = undefined
    }
  }
}
