import { describe, expect, it } from 'vitest'
import { createKernelLedgerPort } from '../../src/kernel/kernel-ledger-port.ts'

describe('createKernelLedgerPort()', () => {
  it('`flush()` waits for every pending record and reports a failure once', async () => {
    const appended: string[] = []
    let release!: () => void
    const gate = new Promise<void>(resolve => { release = resolve })
    const port = createKernelLedgerPort({
      ledger: { head: 'h'.repeat(64) },
      async record (type) {
        if (type === 'slow.first') await gate
        if (type === 'bad.one') throw new Error('refused')
        appended.push(type)
      }
    })
    port.record('slow.first', {})
    port.record('bad.one', {})
    port.record('memory.commit', {})
    let flushed = false
    const flushing = port.flush().then(() => { flushed = true }, (err: unknown) => { flushed = true; throw err })
    await new Promise(resolve => setTimeout(resolve, 10))
    expect(flushed).toBe(false)
    release()
    await expect(flushing).rejects.toThrow('refused')
    expect([...appended].sort()).toEqual(['memory.commit', 'slow.first'])
    expect(port.failures).toBe(1)
    await expect(port.flush()).resolves.toBeUndefined()
    expect(port.head()).toBe('h'.repeat(64))
  })
})
