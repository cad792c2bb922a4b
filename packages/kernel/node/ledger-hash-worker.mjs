// Checks stored ledger lines off the main thread while the kernel replays
// them (see parallel-scan.ts). Plain JavaScript with only node: imports so it
// runs the same under tsx, vitest or a bundle. It only says "every line is
// canonical and hashes and links right" or "look again from seq N": the
// exact verifier on the main thread judges anything it questions.
import { parentPort, workerData } from 'node:worker_threads'
import { isCanonicalLine, lineBodyHash } from '../src/ledger/canonical-line.mjs'

const ZERO_HASH = '0'.repeat(64)

/**
 * @param {Uint8Array[]} texts each segment's bytes up to its last newline
 * @returns {{ ok: true, size: number, head: string } | { ok: false, seq: number }}
 */
function check (texts) {
  let seq = 0
  let head = ZERO_HASH
  for (const bytes of texts) {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
    let start = 0
    while (start < text.length) {
      const nl = text.indexOf('\n', start)
      const line = text.slice(start, nl)
      start = nl + 1
      let e
      try { e = JSON.parse(line) } catch { return { ok: false, seq } }
      if (typeof e !== 'object' || e === null || e.seq !== seq || e.prev_hash !== head || typeof e.hash !== 'string') return { ok: false, seq }
      if (!isCanonicalLine(line, e) || lineBodyHash(line, e.hash) !== e.hash) return { ok: false, seq }
      head = e.hash
      seq++
    }
  }
  return { ok: true, size: seq, head }
}

parentPort?.postMessage(check(workerData.texts))
