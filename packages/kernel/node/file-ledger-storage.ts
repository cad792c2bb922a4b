import { join } from 'node:path'
import { canonicalize } from '@os2/crypto'
import { KernelError } from '../src/errors.ts'
import type { SignedCheckpoint } from '../src/kernel-types.ts'
import type { EventEnvelope, LedgerStorage, LoadedLedger, VerifyResult } from '../src/ledger/types.ts'
import { nodeLedgerFs } from './ledger-fs.ts'
import type { LedgerFile, LedgerFs } from './ledger-fs.ts'
import { scanSegments, segmentName } from './ledger-segments.ts'
import type { SegmentRef, SegmentScan } from './ledger-segments.ts'
import { scanSegmentsParallel } from './parallel-scan.ts'

export const CHECKPOINTS_FILE = 'checkpoints.jsonl'

export interface FileLedgerStorageInit {
  /** Start a new segment after this many events (default 100,000). */
  segmentMaxEvents?: number
  /** Start a new segment once a segment reaches this many bytes (default 64 MiB). */
  segmentMaxBytes?: number
  /** File-system calls; defaults to node:fs (tests inject one that counts syncs). */
  fs?: LedgerFs
}

/** A `LedgerStorage` on append-only segment files, plus what tests and tools want to see. */
export interface FileLedgerStorage extends LedgerStorage {
  readonly dir: string
  /** How many write + fdatasync rounds ran (one per group commit and segment touched). */
  readonly syncs: number
}

interface Job {
  firstSeq: number
  lines: readonly string[]
  resolve: () => void
  reject: (err: unknown) => void
}

interface OpenSegment { ref: SegmentRef, file: LedgerFile | undefined, events: number, bytes: number }

class DefaultFileLedgerStorage implements FileLedgerStorage {
  readonly dir: string
  readonly #fs: LedgerFs
  readonly #maxEvents: number
  readonly #maxBytes: number
  #loaded: Promise<LoadedLedger> | undefined
  #segment: OpenSegment | undefined
  /** Seq the next `append` call must start at (counts queued, not yet durable, events). */
  #nextSeq = 0
  #queue: Job[] = []
  #draining = false
  #failed: KernelError | undefined
  #closed = false
  #checkpointChain: Promise<void> = Promise.resolve()
  #checkpointsRepaired = false
  syncs = 0

  constructor (dir: string, init: FileLedgerStorageInit) {
    this.dir = dir
    this.#fs = init.fs ?? nodeLedgerFs
    this.#maxEvents = init.segmentMaxEvents ?? 100_000
    this.#maxBytes = init.segmentMaxBytes ?? 64 * 1024 * 1024
    if (!(this.#maxEvents >= 1) || !(this.#maxBytes >= 1)) throw new RangeError('Cannot create ledger storage: segment limits must be positive')
  }

  /** Reads, verifies and repairs once; later calls return that first result (the ledger keeps the events from then on). */
  load (): Promise<LoadedLedger> {
    this.#loaded ??= this.#load()
    return this.#loaded
  }

  async #load (): Promise<LoadedLedger> {
    try {
      await this.#fs.mkdir(this.dir)
    } catch (err) {
      throw new KernelError('LEDGER_IO', `Cannot open ledger dir ${this.dir}: ${describe(err)}`, { cause: err })
    }
    // A big ledger is hashed on a worker thread while the kernel replays it; a small or
    // suspect one is scanned here, exactly, so any failure is named as it always was.
    const parallel = await scanSegmentsParallel(this.#fs, this.dir)
    let scan: Omit<SegmentScan, 'verifier'>
    let loaded: LoadedLedger
    if (parallel !== undefined) {
      scan = parallel
      const pendingVerification = parallel.hashes.then(result => { if (!result.ok) throw scanFailure(result) })
      pendingVerification.catch(() => undefined)
      loaded = { events: parallel.events, verified: true, pendingVerification }
    } else {
      const exact = await scanSegments(this.#fs, this.dir, { collect: true })
      const failure = exact.verifier.failure
      if (failure !== undefined) throw scanFailure({ ok: false, size: failure.firstBadSeq, firstBadSeq: failure.firstBadSeq, reason: failure.reason, message: failure.message })
      scan = exact
      loaded = { events: exact.events, verified: true }
    }
    const torn = scan.tornTail
    if (torn !== undefined) {
      // A crash mid-write: the partial record was never acknowledged. Cut it, and say so.
      await this.#fs.truncate(join(this.dir, torn.segment), torn.keptBytes)
      loaded.repaired = { segment: torn.segment, droppedBytes: torn.droppedBytes, atSeq: torn.atSeq }
    }
    this.#nextSeq = scan.events.length
    this.#segment = scan.last !== undefined
      ? { ref: scan.last.ref, file: undefined, events: scan.last.events, bytes: scan.last.bytes }
      : undefined
    return loaded
  }

  append (events: readonly EventEnvelope[], encoded?: readonly string[]): Promise<void> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed)
    if (this.#closed) return Promise.reject(new KernelError('LEDGER_IO', 'Cannot append: the ledger storage is closed'))
    if (events.length === 0) return Promise.resolve()
    // Encode now, so the write loop only concatenates.
    const lines = encoded !== undefined && encoded.length === events.length ? encoded : events.map(e => canonicalize(e))
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ firstSeq: (events[0] as EventEnvelope).seq, lines, resolve, reject })
      if (!this.#draining) void this.#drain()
    })
  }

  async #drain (): Promise<void> {
    this.#draining = true
    try {
      await this.load()
      // Group commit: every append queued while the previous round was writing goes in the next round.
      while (this.#queue.length > 0) {
        const batch = this.#queue
        this.#queue = []
        try {
          let count = 0
          for (const job of batch) {
            const expected = this.#nextSeq + count
            if (job.firstSeq !== expected) {
              throw new KernelError('LEDGER_IO', `Cannot append event ${job.firstSeq}: the storage expects seq ${expected}`, { details: { expectedSeq: expected } })
            }
            count += job.lines.length
          }
          const lines = batch.length === 1 ? (batch[0] as Job).lines : batch.flatMap(job => job.lines)
          await this.#write(lines)
          this.#nextSeq += lines.length
        } catch (err) {
          this.#failed = err instanceof KernelError ? err : new KernelError('LEDGER_IO', `Cannot write ledger events: ${describe(err)}`, { cause: err })
          for (const job of batch) job.reject(this.#failed)
          throw this.#failed
        }
        for (const job of batch) job.resolve()
      }
    } catch (err) {
      this.#failed ??= err instanceof KernelError ? err : new KernelError('LEDGER_IO', `Cannot write ledger events: ${describe(err)}`, { cause: err })
      for (const job of this.#queue.splice(0)) job.reject(this.#failed)
    } finally {
      this.#draining = false
    }
  }

  /** Writes `lines` across as many segments as the limits ask: one write + one fdatasync per segment touched. */
  async #write (lines: readonly string[]): Promise<void> {
    let i = 0
    while (i < lines.length) {
      const seg = await this.#currentSegment()
      let n = Math.min(lines.length - i, this.#maxEvents - seg.events)
      let data = Buffer.from(lines.slice(i, i + n).join('\n') + '\n')
      if (n > 1 && seg.bytes + data.length > this.#maxBytes) {
        // Only the lines that fit (at least one); the rest go to the next segment.
        let bytes = 0
        let k = 0
        while (k < n) {
          const size = Buffer.byteLength(lines[i + k] as string) + 1
          if (k > 0 && seg.bytes + bytes + size > this.#maxBytes) break
          bytes += size
          k++
        }
        n = k
        data = Buffer.from(lines.slice(i, i + n).join('\n') + '\n')
      }
      const file = seg.file as LedgerFile
      await file.write(data)
      await file.datasync()
      this.syncs++
      seg.events += n
      seg.bytes += data.length
      i += n
    }
  }

  async #currentSegment (): Promise<OpenSegment> {
    let seg = this.#segment
    if (seg !== undefined && (seg.events >= this.#maxEvents || seg.bytes >= this.#maxBytes)) {
      await seg.file?.close()
      seg = { ref: { name: segmentName(seg.ref.index + 1), index: seg.ref.index + 1 }, file: undefined, events: 0, bytes: 0 }
      this.#segment = seg
    }
    seg ??= this.#segment = { ref: { name: segmentName(0), index: 0 }, file: undefined, events: 0, bytes: 0 }
    if (seg.file === undefined) {
      const isNew = seg.events === 0 && seg.bytes === 0
      seg.file = await this.#fs.openAppend(join(this.dir, seg.ref.name))
      // A new file's directory entry must be durable too, or a crash could lose the whole segment.
      if (isNew) await this.#fs.syncDir(this.dir)
    }
    return seg
  }

  appendCheckpoint (checkpoint: SignedCheckpoint): Promise<void> {
    const run = async (): Promise<void> => {
      await this.#repairCheckpoints()
      const file = await this.#fs.openAppend(join(this.dir, CHECKPOINTS_FILE))
      try {
        await file.write(Buffer.from(canonicalize(checkpoint) + '\n'))
        await file.datasync()
      } finally {
        await file.close()
      }
    }
    const next = this.#checkpointChain.then(run)
    this.#checkpointChain = next.catch(() => undefined)
    return next
  }

  async loadCheckpoints (): Promise<SignedCheckpoint[]> {
    await this.#repairCheckpoints()
    return readCheckpoints(this.#fs, this.dir).then(r => r.checkpoints)
  }

  /** Cuts a torn last line of the checkpoints file, so later appends start on a fresh line. */
  async #repairCheckpoints (): Promise<void> {
    if (this.#checkpointsRepaired) return
    await this.#fs.mkdir(this.dir)
    const bytes = await this.#fs.readFile(join(this.dir, CHECKPOINTS_FILE))
    if (bytes !== undefined) {
      const end = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).lastIndexOf(0x0a) + 1
      if (end < bytes.length) await this.#fs.truncate(join(this.dir, CHECKPOINTS_FILE), end)
    }
    this.#checkpointsRepaired = true
  }

  async close (): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    while (this.#draining || this.#queue.length > 0) {
      await new Promise<void>(resolve => setImmediate(resolve))
    }
    await this.#checkpointChain
    await this.#segment?.file?.close()
    if (this.#segment !== undefined) this.#segment.file = undefined
  }
}

/** Parses `checkpoints.jsonl`; lines after a torn or unparsable one are reported as `bad`. */
export async function readCheckpoints (fs: LedgerFs, dir: string): Promise<{ checkpoints: SignedCheckpoint[], bad: number | undefined }> {
  const bytes = await fs.readFile(join(dir, CHECKPOINTS_FILE))
  if (bytes === undefined) return { checkpoints: [], bad: undefined }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  const lines = text.split('\n')
  const tail = lines.pop()
  const checkpoints: SignedCheckpoint[] = []
  for (let i = 0; i < lines.length; i++) {
    try {
      checkpoints.push(JSON.parse(lines[i] as string) as SignedCheckpoint)
    } catch {
      return { checkpoints, bad: i }
    }
  }
  return { checkpoints, bad: tail !== undefined && tail.length > 0 ? lines.length : undefined }
}

function describe (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * Append-only ledger storage in `dir`: `segment-000000.jsonl`, `segment-000001.jsonl`, …
 * one canonical JSON envelope per line, rolled at `segmentMaxEvents` events or
 * `segmentMaxBytes` bytes, and `checkpoints.jsonl` for signed checkpoints.
 * `append` resolves only once the events are durable; appends made while a
 * write is in flight are coalesced into the next single write + fdatasync.
 * `load` verifies every line and cuts a torn tail of the last segment.
 *
 * @throws KernelError from `load`: `LEDGER_CORRUPT` (unparsable or cut record) or
 * `LEDGER_CHAIN_BROKEN` (hash, link or seq), with `details.firstBadSeq`
 * @example
 * const ledger = await openLedger(createFileLedgerStorage(join(dataDir, 'ledger')))
 */
export function createFileLedgerStorage (dir: string, init: FileLedgerStorageInit = {}): FileLedgerStorage {
  return new DefaultFileLedgerStorage(dir, init)
}

/** The error a failed scan of stored lines is reported with: corrupt bytes, or a broken chain. */
function scanFailure (failure: Extract<VerifyResult, { ok: false }>): KernelError {
  const code = failure.reason === 'unparsable' || failure.reason === 'truncated' ? 'LEDGER_CORRUPT' : 'LEDGER_CHAIN_BROKEN'
  return new KernelError(code, failure.message, { details: { firstBadSeq: failure.firstBadSeq, reason: failure.reason } })
}
