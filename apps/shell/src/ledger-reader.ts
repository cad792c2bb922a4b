import { open, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { EventEnvelope } from '@os2/kernel'

const SEGMENT_FILE = /^segment-(\d{6,})\.jsonl$/

interface Position { index: number, name: string, offset: number }

/** Reads a ledger dir incrementally; see {@link createLedgerReader}. */
export interface LedgerReader {
  /** Events appended since the last call (all of them on the first call). */
  read(): Promise<EventEnvelope[]>
}

/**
 * Reads ledger events straight from the segment files (`segment-NNNNNN.jsonl`,
 * one canonical JSON envelope per line), read-only: it never takes a lock,
 * never repairs, and ignores a partial last line (a write in progress). Used by
 * `ledger-inspect`, including `--follow`, where each `read()` returns only what
 * was appended since the previous call. It does not verify hashes; that is
 * `ledger-verify`'s job.
 */
export function createLedgerReader (dir: string): LedgerReader {
  return new SegmentReader(dir)
}

class SegmentReader implements LedgerReader {
  readonly #dir: string
  #pos: Position | undefined

  constructor (dir: string) { this.#dir = dir }

  async #segments (): Promise<Array<{ index: number, name: string }>> {
    let names: string[]
    try {
      names = await readdir(this.#dir)
    } catch (err) {
      // No ledger dir yet (a data dir never opened): no events.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const out: Array<{ index: number, name: string }> = []
    for (const name of names) {
      const m = SEGMENT_FILE.exec(name)
      if (m !== null) out.push({ index: Number(m[1]), name })
    }
    return out.sort((a, b) => a.index - b.index)
  }

  async #readFrom (name: string, offset: number): Promise<Buffer> {
    const handle = await open(join(this.#dir, name), 'r')
    try {
      const { size } = await handle.stat()
      if (size <= offset) return Buffer.alloc(0)
      const buf = Buffer.alloc(size - offset)
      const { bytesRead } = await handle.read(buf, 0, buf.length, offset)
      return buf.subarray(0, bytesRead)
    } finally {
      await handle.close()
    }
  }

  /** Events appended since the last call (all of them on the first call). */
  async read (): Promise<EventEnvelope[]> {
    const events: EventEnvelope[] = []
    for (const seg of await this.#segments()) {
      if (this.#pos !== undefined && seg.index < this.#pos.index) continue
      if (this.#pos === undefined || seg.index > this.#pos.index) {
        this.#pos = { index: seg.index, name: seg.name, offset: 0 }
      }
      const chunk = await this.#readFrom(seg.name, this.#pos.offset)
      const lastNl = chunk.lastIndexOf(0x0a)
      if (lastNl < 0) {
        // No complete line yet: keep the position, read again next time.
        continue
      }
      const text = chunk.toString('utf8', 0, lastNl + 1)
      this.#pos.offset += lastNl + 1
      for (const line of text.split('\n')) {
        if (line.length === 0) continue
        try {
          events.push(JSON.parse(line) as EventEnvelope)
        } catch {
          // An unparsable line is reported by ledger-verify; inspection shows what parses.
        }
      }
    }
    return events
  }
}
