import { Worker } from 'node:worker_threads'
import { replayLedger } from '../src/index.ts'
import type { EventEnvelope, HashOffload, KernelInit, ReplayComponents, ReplayReport } from '../src/index.ts'

/** Below this many events a worker costs more to start than it saves: replay stays on one thread. */
export const PARALLEL_REPLAY_MIN_EVENTS = 4096

/** Bodies per message: big enough to amortise a message, small enough that the worker starts early. */
const BATCH = 1024

const WORKER_URL = new URL('./replay-hash-worker.mjs', import.meta.url)

/** The worker could not run or stopped: the caller replays on its own thread. */
export class HashOffloadFailed extends Error {}

/**
 * A `HashOffload` on a worker thread: SHA-256 of each produced event's
 * canonical body, checked against the hash its recorded event claims. The
 * main thread keeps encoding and replaying; the worker needs a fraction of
 * a core, so this pays even on a busy machine.
 */
export function createWorkerHashOffload (): HashOffload {
  // No inherited loader flags (tsx): the worker is plain JavaScript and starts in milliseconds without them.
  const worker = new Worker(WORKER_URL, { execArgv: [] })
  const answer = new Promise<{ seq: number, actual: string } | undefined>((resolve, reject) => {
    worker.once('message', (msg: { mismatch?: { seq: number, actual: string } }) => { resolve(msg.mismatch) })
    worker.once('error', err => { reject(new HashOffloadFailed(`The replay hash worker failed: ${err.message}`)) })
    worker.once('exit', code => { reject(new HashOffloadFailed(`The replay hash worker exited with code ${code}`)) })
  })
  answer.catch(() => undefined)
  let start = 0
  let bodies: string[] = []
  let claims: string[] = []
  const send = (): void => {
    if (bodies.length === 0) return
    // One string per message: a thousand separate strings cost ~2 µs each to serialise,
    // one joined string is a single copy. Canonical JSON has no raw newline in it.
    worker.postMessage({ start, bodies: bodies.join('\n'), claims: claims.join('') })
    bodies = []
    claims = []
  }
  let settled: Promise<{ seq: number, actual: string } | undefined> | undefined
  return {
    check (seq, body, claimed) {
      if (settled !== undefined) throw new Error('Cannot queue a hash check: the offload has settled')
      if (bodies.length > 0 && seq !== start + bodies.length) send()
      if (bodies.length === 0) start = seq
      bodies.push(body)
      claims.push(claimed)
      if (bodies.length >= BATCH) send()
    },
    settle () {
      if (settled === undefined) {
        send()
        worker.postMessage({ end: true })
        settled = answer.finally(() => { void worker.terminate() })
      }
      return settled
    }
  }
}

/**
 * `replayLedger` with the hashing of produced events on a worker thread
 * (`components.offloadHashes`, default `createWorkerHashOffload`):
 * this thread re-executes and encodes, taking each event's hash from the
 * record so the chain goes on at once; the worker checks every one. Reports
 * are the one-thread replay's (the first event whose hash differs, both
 * hashes). What `os2 ledger-verify --replay` and a node's replay use. Small
 * ledgers, and a worker that fails, replay on this thread.
 */
export async function replayLedgerParallel (events: Iterable<EventEnvelope>, init: KernelInit, components: ReplayComponents = {}): Promise<ReplayReport> {
  const { offloadHashes = createWorkerHashOffload, ...rest } = components
  const recorded = [...events]
  if (recorded.length < PARALLEL_REPLAY_MIN_EVENTS || rest.ledgers !== undefined) return await replayLedger(recorded, init, rest)
  try {
    return await replayLedger(recorded, init, { ...rest, offloadHashes })
  } catch (err) {
    if (!(err instanceof HashOffloadFailed)) throw err
    return await replayLedger(recorded, init, rest)
  }
}
