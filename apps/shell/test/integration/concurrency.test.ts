import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { json, ledgerEvents, os2, tempDir } from './harness.ts'

let tmp: Awaited<ReturnType<typeof tempDir>>
let dir: string

beforeAll(async () => {
  tmp = await tempDir('os2-concurrency-')
  dir = join(tmp.path, 'data')
  expect((await os2(['--data-dir', dir, 'init'])).code).toBe(0)
  expect((await os2(['--data-dir', dir, 'cap-grant', '--principal', 'agent', '--capability', 'kernel.emit'])).code).toBe(0)
}, 600_000)
afterAll(async () => { await tmp.cleanup() })

describe('os2 with concurrent invocations', { timeout: 600_000 }, () => {
  it('`os2 submit` run by several processes at once serialises on the data dir lock and keeps one valid chain', async () => {
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5']
    const results = await Promise.all(ids.map(async id => await os2(['--data-dir', dir, 'submit', '--id', id, '--capability', 'kernel.emit', '--principal', 'agent', '--args', '{"name":"tick"}'])))
    for (const r of results) expect(r.code, r.stderr).toBe(0)
    const verify = await os2(['--data-dir', dir, '--json', 'ledger-verify'])
    expect(verify.code, verify.stdout).toBe(0)
    const events = await ledgerEvents(dir)
    expect(json<{ size: number }>(verify).size).toBe(events.length)
    const completed = events.filter(e => e.type === 'completed').map(e => (e as unknown as { token_id: string }).token_id).sort()
    expect(completed).toEqual(ids)
  })
})
