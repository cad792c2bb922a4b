import { spawn } from 'node:child_process'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OS2, os2, tempDir } from './harness.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let dir: string

beforeAll(async () => {
  tmp = await tempDir('os2-follow-')
  dir = join(tmp.path, 'data')
  expect((await os2(['--data-dir', dir, 'init'])).code).toBe(0)
  expect((await os2(['--data-dir', dir, 'cap-grant', '--principal', 'agent', '--capability', 'kernel.emit'])).code).toBe(0)
}, 600_000)
afterAll(async () => { await tmp.cleanup() })

async function until (cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  const start = Date.now()
  while (!cond()) {
    if (Date.now() - start > ms) throw new Error(`Timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

describe('os2 ledger-inspect --follow', { timeout: 600_000 }, () => {
  it('`os2 ledger-inspect --follow` prints events appended by another process and exits 0 on SIGINT', async () => {
    const child = spawn(process.execPath, [OS2, '--data-dir', dir, '--json', 'ledger-inspect', '--follow', '--interval-ms', '50'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (s: string) => { out += s })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { err += s })
    const exited = new Promise<number | null>(resolve => child.on('close', resolve))
    const events = (): Array<{ seq: number, type: string, token_id: string | null }> => out.split('\n').filter(l => l.trim().length > 0).map(l => JSON.parse(l) as { seq: number, type: string, token_id: string | null })
    // The existing events first: genesis, request, grant_created.
    await until(() => events().length >= 3, 'the existing events')
    const initial = events().length
    const submitted = await os2(['--data-dir', dir, 'submit', '--id', 'followed', '--capability', 'kernel.emit', '--principal', 'agent', '--args', '{"name":"ping"}'])
    expect(submitted.code, submitted.stderr).toBe(0)
    await until(() => events().some(e => e.type === 'completed' && e.token_id === 'followed'), 'the new token events')
    child.kill('SIGINT')
    expect(await exited).toBe(0)
    expect(err).toBe('')
    const seqs = events().map(e => e.seq)
    expect(seqs).toEqual(seqs.map((_, i) => i))
    expect(seqs.length).toBeGreaterThan(initial)
    expect(events().filter(e => e.token_id === 'followed').map(e => e.type)).toEqual(expect.arrayContaining(['scheduled', 'started', 'custom', 'completed']))
  })
})
