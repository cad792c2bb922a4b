import { spawn } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { openLedger } from '../../src/ledger/index.ts'
import { createFileLedgerStorage, verifyLedgerDir } from '../../node/index.ts'

const here = dirname(fileURLToPath(import.meta.url))
const repoRoot = resolve(here, '../../../..')
const src = (p: string): string => pathToFileURL(resolve(here, '../../src', p)).href

// The child appends through the real file storage with many appends in flight,
// and prints each seq only once its flush (write + fdatasync) has resolved.
const CHILD = `
import { openLedger } from '${src('ledger/index.ts')}'
import { createFileLedgerStorage, nodeLedgerFs } from '${src('../node/index.ts')}'
const [dir, mode] = process.argv.slice(2)
// In 'tear' mode each write reaches the file in two syscalls with a pause between them,
// announced on stdout, so the parent's SIGKILL lands mid-record (as a power cut would).
const fs = mode !== 'tear' ? nodeLedgerFs : {
  ...nodeLedgerFs,
  async openAppend (path) {
    const file = await nodeLedgerFs.openAppend(path)
    return {
      async write (data) {
        // Cut inside the last record (every record is longer than 7 bytes).
        const half = data.length - 7
        await file.write(data.subarray(0, half))
        process.stdout.write('torn-window\\n')
        await new Promise(r => setTimeout(r, 200))
        await file.write(data.subarray(half))
      },
      datasync: () => file.datasync(),
      close: () => file.close()
    }
  }
}
const ledger = await openLedger(createFileLedgerStorage(dir, { segmentMaxEvents: 700, fs }))
process.stdout.write('ready ' + ledger.size + '\\n')
const filler = 'x'.repeat(300)
let inFlight = 0
for (;;) {
  const e = ledger.append({ tick: ledger.size, type: 'custom', token_id: 't', payload: { n: ledger.size, filler } })
  inFlight++
  ledger.flush().then(() => { inFlight--; process.stdout.write('ack ' + e.seq + '\\n') })
  if (inFlight > 256) await new Promise(r => setImmediate(r))
}
`

const dirs: string[] = []
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

interface Run { acked: number, readySize: number }

/** Runs the child until it has acknowledged `atLeast` more events, then kills it with SIGKILL. */
function runAndKill (script: string, dir: string, atLeast: number, tear: boolean): Promise<Run> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, dir, tear ? 'tear' : 'plain'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let buffered = ''
    let stderr = ''
    let acked = -1
    let readySize = -1
    let killed = false
    let window = false
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString() })
    child.stdout.on('data', (d: Buffer) => {
      buffered += d.toString()
      const lines = buffered.split('\n')
      buffered = lines.pop() ?? ''
      for (const line of lines) {
        const [kind, n] = line.split(' ')
        if (kind === 'ready') readySize = Number(n)
        if (kind === 'ack') {
          acked = Math.max(acked, Number(n))
          window = false
        }
        if (kind === 'torn-window') window = true
      }
      if (!killed && readySize >= 0 && acked >= readySize + atLeast && (!tear || window)) {
        killed = true
        child.kill('SIGKILL')
      }
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      // Acks printed before the kill are still in the pipe; 'close' comes after they are read.
      if (signal !== 'SIGKILL') reject(new Error(`child exited with ${String(code)} ${String(signal)}: ${stderr}`))
      else resolvePromise({ acked, readySize })
    })
  })
}

describe('file ledger under kill -9', () => {
  it('keeps every acknowledged event and a verifiable chain across repeated SIGKILLs mid-append', async () => {
    const work = await mkdtemp(join(tmpdir(), 'os2-crash-'))
    dirs.push(work)
    const script = join(work, 'child.mts')
    await writeFile(script, CHILD)
    const dir = join(work, 'ledger')
    let lastAcked = -1
    let repairs = 0
    const rounds = [false, true, false, true, true]
    for (const [round, tear] of rounds.entries()) {
      const run = await runAndKill(script, dir, tear ? 300 : 1500 + round * 300, tear)
      expect(run.readySize).toBeGreaterThan(lastAcked)
      lastAcked = run.acked
      const ledger = await openLedger(createFileLedgerStorage(dir, { segmentMaxEvents: 700 }))
      if (tear) {
        // Killed between the two halves of a write: a torn tail, cut at open and reported.
        expect(ledger.repaired).toBeDefined()
        expect(ledger.repaired?.atSeq).toBe(ledger.size)
      }
      // Every acknowledged seq is present, and the chain verifies.
      expect(ledger.size).toBeGreaterThan(run.acked)
      expect(ledger.verify()).toMatchObject({ ok: true, size: ledger.size })
      for (let seq = run.readySize; seq <= run.acked; seq++) expect(ledger.get(seq)?.seq).toBe(seq)
      if (ledger.repaired !== undefined) {
        // What the kernel does at start: record the repair as an alert event.
        repairs++
        ledger.append({ tick: ledger.size, type: 'alert', payload: { repaired: ledger.repaired } })
      }
      const size = ledger.size
      await ledger.close()
      // After the open repaired any torn tail, the dir verifies as is.
      expect(await verifyLedgerDir(dir)).toMatchObject({ ok: true, size })
    }
    console.log(`ledger-crash: ${rounds.length} kills, last ack ${lastAcked}, torn tails repaired: ${repairs}`)
    expect(repairs).toBeGreaterThanOrEqual(3)
    const final = await openLedger(createFileLedgerStorage(dir, { segmentMaxEvents: 700 }))
    expect([...final.events()].filter(e => e.type === 'alert')).toHaveLength(repairs)
    await final.close()
  })
})
