import { readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { createKernel, createMemoryLedgerStorage, isKernelError, parseGenesis } from '../src/index.ts'
import type { EventEnvelope, Genesis } from '../src/index.ts'
import { rehashFrom } from './helpers.ts'

// Opening a verified ledger matches produced events against the recorded ones field by
// field instead of re-hashing them. Whatever a re-hashed forgery changes (a field the
// kernel writes, the event id, an extra key) must still stop the open at that event.

const GOLDEN = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'golden', 'mixed')

async function golden (): Promise<{ events: EventEnvelope[], genesis: Genesis }> {
  const text = await readFile(join(GOLDEN, 'ledger', 'segment-000000.jsonl'), 'utf8')
  const genesis = parseGenesis(JSON.parse(await readFile(join(GOLDEN, 'genesis.json'), 'utf8')))
  return { events: text.trim().split('\n').map(line => JSON.parse(line) as EventEnvelope), genesis }
}

async function divergence (events: EventEnvelope[], genesis: Genesis): Promise<number | undefined> {
  const err: unknown = await createKernel({ storage: createMemoryLedgerStorage(events) }, { genesis }).then(() => undefined, (e: unknown) => e)
  if (err === undefined) return undefined
  expect(isKernelError(err, 'REPLAY_DIVERGED')).toBe(true)
  return (err as { details: { firstDivergentSeq: number } }).details.firstDivergentSeq
}

describe('replay of a verified ledger', () => {
  it('`createKernel()` reports a re-hashed change to the event id, an extra key or a payload field at its seq', async () => {
    const { events, genesis } = await golden()
    const at = events.findIndex(e => e.type === 'completed')
    const custom = events.findIndex(e => e.type === 'custom')
    expect(await divergence(rehashFrom(events, at, e => ({ ...e, event_id: `ev-x${e.seq}` })), genesis)).toBe(at)
    expect(await divergence(rehashFrom(events, at, e => ({ ...e, note: 'extra' }) as EventEnvelope), genesis)).toBe(at)
    expect(await divergence(rehashFrom(events, custom, e => ({ ...e, payload: { ...e.payload, data: 0 } })), genesis)).toBe(custom)
    expect(await divergence(rehashFrom(events, custom, e => ({ ...e, payload: { ...e.payload, extra: null } })), genesis)).toBe(custom)
  })

  it('`createKernel()` continues the opened chain: new events hash and verify after a matched replay', async () => {
    const { events, genesis } = await golden()
    const kernel = await createKernel({ storage: createMemoryLedgerStorage(events) }, { genesis })
    expect(kernel.ledger.get(events.length - 1)?.hash).toBe(events[events.length - 1]?.hash)
    await kernel.handle({ type: 'SubmitToken', token: { id: 'after-open', capability: 'kernel.emit', principal: 'agent', args: { name: 'again' } } })
    await kernel.runUntilIdle()
    expect(kernel.token('after-open')?.state).toBe('completed')
    expect(kernel.ledger.verify()).toMatchObject({ ok: true, size: kernel.ledger.size })
    await kernel.close()
  })
})
