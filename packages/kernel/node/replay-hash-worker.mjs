// Hashes the canonical bodies of the events a replay produces, off the main
// thread (see replay-hash-offload.ts): the main thread encodes each event
// and goes on with the hash the recorded event claims; this checks every
// claim and names the first body that does not hash to it. Plain JavaScript
// with only node: imports, so it starts in milliseconds under tsx, vitest
// or a bundle.
import { parentPort } from 'node:worker_threads'
import { hash } from 'node:crypto'

/** @type {{ seq: number, actual: string } | undefined} */
let mismatch

// A batch: the bodies joined by newlines (canonical JSON has no raw newline), the claimed hashes concatenated.
parentPort?.on('message', (/** @type {{ start: number, bodies: string, claims: string } | { end: true }} */ msg) => {
  if ('end' in msg) {
    parentPort?.postMessage({ mismatch })
    return
  }
  if (mismatch !== undefined) return
  const { start, bodies, claims } = msg
  let from = 0
  for (let i = 0; from <= bodies.length; i++) {
    let to = bodies.indexOf('\n', from)
    if (to < 0) to = bodies.length
    const actual = hash('sha256', bodies.slice(from, to), 'hex')
    if (actual !== claims.slice(64 * i, 64 * i + 64)) {
      mismatch = { seq: start + i, actual }
      return
    }
    from = to + 1
  }
})
