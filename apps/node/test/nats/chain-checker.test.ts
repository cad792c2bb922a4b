import { canonicalize } from '@os2/crypto'
import { envelopeHash } from '@os2/kernel'
import type { EventEnvelope } from '@os2/kernel'
import { beforeAll, describe, expect, it } from 'vitest'
import { createChainChecker } from '../../src/nats/chain-checker.ts'
import { workloadKernel, writeSome } from '../helpers/workload.ts'

let events: EventEnvelope[]

beforeAll(async () => {
  const kernel = await workloadKernel()
  await writeSome(kernel, 3)
  events = [...kernel.ledger.events()]
  await kernel.close()
})

const bytes = (e: unknown): Uint8Array => Buffer.from(canonicalize(e as EventEnvelope))
const at = (i: number): EventEnvelope => events[i] as EventEnvelope

describe('createChainChecker()', () => {
  it('`check()` accepts a whole ledger in order', () => {
    const checker = createChainChecker()
    for (const e of events) expect(checker.check(bytes(e)).kind).toBe('ok')
    expect(checker.next).toBe(events.length)
    expect(checker.head).toBe(at(events.length - 1).hash)
  })

  it('`check()` reports a re-delivered event as a duplicate, not a divergence', () => {
    const checker = createChainChecker()
    checker.check(bytes(at(0)))
    checker.check(bytes(at(1)))
    expect(checker.check(bytes(at(1))).kind).toBe('duplicate')
    expect(checker.check(bytes(at(2))).kind).toBe('ok')
  })

  it('`check()` reports hash_mismatch when content was changed under its hash', () => {
    const verdict = createChainChecker().check(bytes({ ...at(0), tick: 99 }))
    expect(verdict).toMatchObject({ kind: 'diverged', reason: 'hash_mismatch' })
  })

  it('`check()` reports seq_gap when an event is missing', () => {
    const checker = createChainChecker()
    checker.check(bytes(at(0)))
    expect(checker.check(bytes(at(2)))).toMatchObject({ kind: 'diverged', reason: 'seq_gap' })
  })

  it('`check()` reports prev_hash_mismatch for a self-consistent event that does not link', () => {
    const checker = createChainChecker()
    checker.check(bytes(at(0)))
    const body = { ...at(1), prev_hash: 'e'.repeat(64) }
    expect(checker.check(bytes({ ...body, hash: envelopeHash(body) }))).toMatchObject({ kind: 'diverged', reason: 'prev_hash_mismatch' })
  })

  it('`check()` checks the first link against the anchor when starting mid-ledger', () => {
    expect(createChainChecker(2, at(1).hash).check(bytes(at(2))).kind).toBe('ok')
    expect(createChainChecker(2, at(0).hash).check(bytes(at(2)))).toMatchObject({ kind: 'diverged', reason: 'prev_hash_mismatch' })
  })

  it('`check()` reports unparsable bytes', () => {
    expect(createChainChecker().check(Buffer.from('{nope'))).toMatchObject({ kind: 'diverged', reason: 'unparsable' })
  })
})
