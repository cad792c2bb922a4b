import { Worker } from 'node:worker_threads'
import { replayLedger, verifyEvents } from '../src/index.ts'
import type { EventEnvelope, KernelInit, ReplayComponents, ReplayReport, VerifyResult } from '../src/index.ts'

/** Below this many events a worker costs more to start than it saves: replay stays on one thread. */
export const PARALLEL_REPLAY_MIN_EVENTS = 4096

/** Events per message to the worker: big enough to amortise a message, small enough that it starts early. */
const CHUNK = 2048

const WORKER_URL = new URL('./replay-chain-worker.mjs', import.meta.url)

/** The worker's answer: every event hashes and links right, or look again from `seq`. */
export type WorkerChainAnswer = { ok: true, size: number, head: string } | { ok: false, seq: number }

/**
 * Checks every hash and link of `events` on a worker thread. This thread
 * only serialises them (JSON text, about a third of the cost of encoding and
 * hashing them); the worker parses, encodes each body with the ledger's own
 * encoder, hashes and links. Rejects when the worker cannot run or the
 * events cannot be serialised (a bigint, a cycle: not canonical JSON either).
 */
export function checkChainOnWorker (events: readonly EventEnvelope[]): Promise<WorkerChainAnswer> {
  // No inherited loader flags (tsx): the worker is plain JavaScript and starts in milliseconds without them.
  const worker = new Worker(WORKER_URL, { execArgv: [] })
  const answer = new Promise<WorkerChainAnswer>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
    worker.once('exit', code => { reject(new Error(`replay chain worker exited with code ${code}`)) })
  })
  try {
    for (let i = 0; i < events.length; i += CHUNK) worker.postMessage({ json: JSON.stringify(events.slice(i, i + CHUNK)) })
    worker.postMessage({ end: true })
  } catch (err) {
    answer.catch(() => undefined)
    void worker.terminate()
    return Promise.reject(err)
  }
  return answer.finally(() => { void worker.terminate() })
}

/**
 * Settles with exactly what `verifyEvents(events)` says, checking on a worker
 * thread: anything the worker questions, and a worker that fails, is judged
 * by the exact verifier on this thread, so reasons and seqs are its own.
 */
export async function verifyChainInBackground (events: readonly EventEnvelope[]): Promise<VerifyResult> {
  let found: WorkerChainAnswer | undefined
  try {
    found = await checkChainOnWorker(events)
  } catch {
    found = undefined
  }
  return found?.ok === true && found.size === events.length ? { ok: true, size: found.size, head: found.head } : verifyEvents(events)
}

/**
 * `replayLedger` with the recorded chain verified on a second thread while
 * this one re-executes, matching each produced event against the recorded
 * one field by field instead of encoding and hashing it: what `os2
 * ledger-verify --replay` and a node's replay use. Small ledgers replay on
 * one thread.
 */
export async function replayLedgerParallel (events: Iterable<EventEnvelope>, init: KernelInit, components: Omit<ReplayComponents, 'verifyChain'> = {}): Promise<ReplayReport> {
  const recorded = [...events]
  if (recorded.length < PARALLEL_REPLAY_MIN_EVENTS) return await replayLedger(recorded, init, components)
  return await replayLedger(recorded, init, { ...components, verifyChain: verifyChainInBackground })
}
