import { Worker } from 'node:worker_threads'
import { join } from 'node:path'
import { ZERO_HASH } from '@os2/crypto'
import { ChainVerifier } from '../src/ledger/verify.ts'
import { envelopeShapeError, hasExactEnvelopeKeys } from '../src/ledger/envelope.ts'
import type { EventEnvelope, VerifyResult } from '../src/ledger/types.ts'
import type { LedgerFs } from './ledger-fs.ts'
import { listSegments } from './ledger-segments.ts'
import type { SegmentScan } from './ledger-segments.ts'

/** Below this many bytes a worker costs more to start than it saves: the scan stays on one thread. */
export const PARALLEL_SCAN_MIN_BYTES = 1 << 20

const WORKER_URL = new URL('./ledger-hash-worker.mjs', import.meta.url)

export interface ParallelScan extends Omit<SegmentScan, 'verifier'> {
  /**
   * Settles once every line's hash and canonical form is checked on the worker
   * (and, for any line it questioned, by the exact verifier here): what
   * `ChainVerifier` would have found over the same lines.
   */
  hashes: Promise<VerifyResult>
}

/**
 * Reads every segment and hands the hash checks to a worker thread, so they
 * run while the kernel replays the events: this thread parses each line and
 * checks shape, seq and links (cheap), the worker checks that each line is
 * canonical and hashes to its `hash` (the expensive part). Returns undefined
 * when the ledger is small or anything looks wrong on this thread; the caller
 * then runs the exact one-thread scan, which names the failure.
 */
export async function scanSegmentsParallel (fs: LedgerFs, dir: string): Promise<ParallelScan | undefined> {
  const segments = await listSegments(fs, dir)
  const texts: Uint8Array[] = []
  let total = 0
  let tornTail: SegmentScan['tornTail']
  let lastBytes = 0
  for (let s = 0; s < segments.length; s++) {
    const ref = segments[s] as SegmentScan['segments'][number]
    const bytes = await fs.readFile(join(dir, ref.name)) ?? new Uint8Array(0)
    const end = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).lastIndexOf(0x0a) + 1
    if (end < bytes.length) {
      if (s !== segments.length - 1) return undefined
      tornTail = { segment: ref.name, keptBytes: end, droppedBytes: bytes.length - end, atSeq: -1 }
    }
    texts.push(bytes.subarray(0, end))
    total += end
    lastBytes = end
  }
  if (total < PARALLEL_SCAN_MIN_BYTES) return undefined

  // The worker gets its own copy of the bytes (this thread keeps parsing its own).
  const copies = texts.map(t => new Uint8Array(t))
  // No inherited loader flags (tsx): the worker is plain JavaScript and starts in milliseconds without them.
  const worker = new Worker(WORKER_URL, { execArgv: [], workerData: { texts: copies }, transferList: copies.map(c => c.buffer as ArrayBuffer) })
  const answer = new Promise<{ ok: true, size: number, head: string } | { ok: false, seq: number }>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', code => { reject(new Error(`ledger hash worker exited with code ${code}`)) })
  })
  answer.catch(() => undefined)

  const events: EventEnvelope[] = []
  let head = ZERO_HASH
  let lastEvents = 0
  for (const bytes of texts) {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
    lastEvents = 0
    let start = 0
    while (start < text.length) {
      const nl = text.indexOf('\n', start)
      let value: unknown
      try {
        value = JSON.parse(text.slice(start, nl))
      } catch {
        value = undefined
      }
      const e = value as EventEnvelope
      if (value === undefined || envelopeShapeError(value) !== undefined || !hasExactEnvelopeKeys(e) || e.seq !== events.length || e.prev_hash !== head) {
        await worker.terminate()
        return undefined
      }
      events.push(e)
      head = e.hash
      lastEvents++
      start = nl + 1
    }
  }
  if (tornTail !== undefined) tornTail.atSeq = events.length
  const lastRef = segments[segments.length - 1]

  const exact = (): VerifyResult => {
    const verifier = new ChainVerifier()
    for (const bytes of texts) {
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
      let start = 0
      while (start < text.length) {
        const nl = text.indexOf('\n', start)
        if (verifier.pushLine(text.slice(start, nl)) === undefined) return verifier.result()
        start = nl + 1
      }
    }
    return verifier.result()
  }
  const hashes = answer.then(
    found => found.ok && found.size === events.length && found.head === head ? { ok: true as const, size: found.size, head } : exact(),
    () => exact()
  )
  return {
    events,
    segments,
    last: lastRef === undefined ? undefined : { ref: lastRef, events: lastEvents, bytes: lastBytes },
    tornTail,
    hashes
  }
}
