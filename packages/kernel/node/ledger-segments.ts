import { join } from 'node:path'
import { ChainVerifier } from '../src/ledger/verify.ts'
import type { EventEnvelope } from '../src/ledger/types.ts'
import type { LedgerFs } from './ledger-fs.ts'

const SEGMENT_FILE = /^segment-(\d{6,})\.jsonl$/

/** `segment-000042.jsonl` */
export function segmentName (index: number): string {
  return `segment-${String(index).padStart(6, '0')}.jsonl`
}

export interface SegmentRef { name: string, index: number }

/** Segment files in `dir`, in order. */
export async function listSegments (fs: LedgerFs, dir: string): Promise<SegmentRef[]> {
  const out: SegmentRef[] = []
  for (const name of await fs.readdir(dir)) {
    const m = SEGMENT_FILE.exec(name)
    if (m !== null) out.push({ name, index: Number(m[1]) })
  }
  return out.sort((a, b) => a.index - b.index)
}

export interface SegmentScan {
  verifier: ChainVerifier
  /** The verified events (only when collected). */
  events: EventEnvelope[]
  segments: SegmentRef[]
  /** Events and bytes in the last segment, up to its last complete line. */
  last: { ref: SegmentRef, events: number, bytes: number } | undefined
  /** A partial record with no newline after it at the end of the last segment. */
  tornTail: { segment: string, keptBytes: number, droppedBytes: number, atSeq: number } | undefined
}

/**
 * Reads and verifies every segment in order, line by line, stopping at the
 * first bad record. A partial last line of the last segment is reported as
 * `tornTail` (the caller repairs or reports it); one anywhere else is a failure.
 */
export async function scanSegments (fs: LedgerFs, dir: string, options: { collect: boolean, onEvent?: (e: EventEnvelope) => void }): Promise<SegmentScan> {
  const verifier = new ChainVerifier()
  const events: EventEnvelope[] = []
  const segments = await listSegments(fs, dir)
  let last: SegmentScan['last']
  let tornTail: SegmentScan['tornTail']
  for (let s = 0; s < segments.length; s++) {
    const ref = segments[s] as SegmentRef
    const bytes = await fs.readFile(join(dir, ref.name)) ?? new Uint8Array(0)
    const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const end = buf.lastIndexOf(0x0a) + 1
    const text = buf.toString('utf8', 0, end)
    let count = 0
    let start = 0
    while (start < text.length) {
      const nl = text.indexOf('\n', start)
      const envelope = verifier.pushLine(text.slice(start, nl))
      if (envelope === undefined) return { verifier, events, segments, last: undefined, tornTail: undefined }
      if (options.collect) events.push(envelope)
      options.onEvent?.(envelope)
      count++
      start = nl + 1
    }
    if (end < buf.length) {
      const isLast = s === segments.length - 1
      if (!isLast) {
        verifier.truncated(`segment ${ref.name} ends with a partial record of ${buf.length - end} bytes before later segments`)
        return { verifier, events, segments, last: undefined, tornTail: undefined }
      }
      tornTail = { segment: ref.name, keptBytes: end, droppedBytes: buf.length - end, atSeq: verifier.size }
    }
    last = { ref, events: count, bytes: end }
  }
  return { verifier, events, segments, last, tornTail }
}
