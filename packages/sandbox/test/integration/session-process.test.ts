import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { spawnSessionProcess } from '../../src/session-process.ts'
import { ensureSnapshot } from '../../src/snapshot-cache.ts'

describe('spawnSessionProcess()', () => {
  it('spawnSessionProcess() starts a child that loads Pyodide with an empty environment and reports its exit reason', async () => {
    const proc = spawnSessionProcess({ snapshotPath: await ensureSnapshot() })
    const loaded = await proc.next()
    expect(loaded).toMatchObject({ t: 'loaded', snapshot: true })
    const environ = (await import('node:fs')).readFileSync(`/proc/${proc.pid}/environ`, 'utf8')
    expect(environ).toBe('')
    expect(await proc.rss()).toBeGreaterThan(50 * 2 ** 20)
    proc.kill('test')
    const exit = await proc.next()
    expect(exit).toMatchObject({ t: 'exit', signal: 'SIGKILL', killReason: 'test' })
    expect(proc.exited).toBe(true)
    proc.dispose()
    expect(existsSync(proc.scratchDir)).toBe(false)
  })
})
