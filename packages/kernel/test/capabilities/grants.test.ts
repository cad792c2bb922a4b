import { describe, expect, it } from 'vitest'
import { createTestKernel, eventPayloads, eventTypes, grant, submit } from '../../src/testing/index.ts'
import { hostAllowed, scopeGap } from '../../src/index.ts'
import { TEST_DESCRIPTORS } from '../fixtures.ts'

const put = (id: string, namespace = 'n'): { id: string, capability: string, args: Record<string, unknown> } =>
  ({ id, capability: 'kernel.state.put', args: { namespace, key: 'k', value: 1 } })

describe('capability checks', () => {
  it('`handle(SubmitToken)` emits capability_violation (missing) and failed when the principal holds no grant', async () => {
    const { kernel } = await createTestKernel()
    const res = await submit(kernel, put('t'))
    expect(res.disposition).toBe('rejected')
    expect(res.error?.code).toBe('GRANT_MISSING')
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'capability_violation', 'failed'])
    expect(eventPayloads(kernel, 'capability_violation', 't')[0]).toMatchObject({ reason: 'missing', code: 'GRANT_MISSING' })
    expect(kernel.token('t')?.state).toBe('failed')
  })

  it('`handle(SubmitToken)` emits capability_violation (revoked) for a revoked grant', async () => {
    const { kernel } = await createTestKernel()
    const id = await grant(kernel, 'agent', 'kernel.state.put')
    const rev = await kernel.handle({ type: 'RevokeCapability', grantId: id, reason: 'test' })
    expect(rev.disposition).toBe('accepted')
    expect(kernel.grants()[0]).toMatchObject({ id, version: 2, revoked: true })
    expect(eventTypes(kernel).slice(-2)).toEqual(['request', 'grant_revoked'])
    const res = await submit(kernel, put('t'))
    expect(res.error?.code).toBe('GRANT_REVOKED')
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'capability_violation', 'failed'])
    expect(eventPayloads(kernel, 'capability_violation', 't')[0]).toMatchObject({ reason: 'revoked', grant_id: id })
  })

  it('`step()` blocks a queued token whose grant was revoked after submission, without starting it', async () => {
    const { kernel } = await createTestKernel()
    const id = await grant(kernel, 'agent', 'kernel.state.put')
    expect((await submit(kernel, put('t'))).disposition).toBe('queued')
    await kernel.handle({ type: 'RevokeCapability', grantId: id })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'scheduled', 'capability_violation', 'failed'])
    expect(eventPayloads(kernel, 'capability_violation', 't')[0]).toMatchObject({ reason: 'revoked' })
    expect(kernel.kv()).toEqual([])
  })

  it('`handle(SubmitToken)` emits capability_violation (expired) outside the validity window', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put', { validFrom: 1000, validUntil: 2000 })
    const res = await submit(kernel, put('early'))
    expect(res.error?.code).toBe('GRANT_EXPIRED')
    expect(eventTypes(kernel, { tokenId: 'early' })).toEqual(['request', 'capability_violation', 'failed'])
    expect(eventPayloads(kernel, 'capability_violation', 'early')[0]).toMatchObject({ reason: 'expired' })
  })

  it('`step()` emits capability_violation (expired) when the grant lapses while the token waits', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put', { validUntil: 5 })
    await grant(kernel, 'agent', 'kernel.sleep')
    await submit(kernel, { id: 'sleeper', capability: 'kernel.sleep', args: { ticks: 10 }, priority: 9 })
    expect((await submit(kernel, put('late'))).disposition).toBe('queued')
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 'late' })).toEqual(['request', 'scheduled', 'capability_violation', 'failed'])
    expect(kernel.token('late')?.error?.code).toBe('GRANT_EXPIRED')
  })

  it('`handle(SubmitToken)` emits capability_violation (out_of_scope) for a namespace outside the grant', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put', { scope: { namespaces: ['mine'] } })
    expect((await submit(kernel, put('ok', 'mine'))).disposition).toBe('queued')
    const res = await submit(kernel, put('bad', 'theirs'))
    expect(res.error?.code).toBe('GRANT_OUT_OF_SCOPE')
    expect(eventTypes(kernel, { tokenId: 'bad' })).toEqual(['request', 'capability_violation', 'failed'])
    expect(eventPayloads(kernel, 'capability_violation', 'bad')[0]).toMatchObject({ reason: 'out_of_scope' })
    expect(String(eventPayloads(kernel, 'capability_violation', 'bad')[0]?.detail)).toContain('namespace theirs')
  })

  it('`step()` emits capability_violation (out_of_scope) when a handler touches an undeclared namespace', async () => {
    const { kernel } = await createTestKernel({ descriptors: TEST_DESCRIPTORS })
    await grant(kernel, 'agent', 'test.sneaky', { scope: { namespaces: ['mine'] } })
    await submit(kernel, { id: 's', capability: 'test.sneaky', args: { namespace: 'theirs' } })
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 's' })).toEqual(['request', 'scheduled', 'started', 'capability_violation', 'failed'])
    expect(kernel.kv()).toEqual([])
  })

  it('`handle(SubmitToken)` emits capability_violation (out_of_scope) for a host outside the allow-list', async () => {
    const { kernel } = await createTestKernel({ descriptors: TEST_DESCRIPTORS })
    await grant(kernel, 'agent', 'test.fetch', { scope: { hosts: ['*.example.org'] } })
    expect((await submit(kernel, { id: 'a', capability: 'test.fetch', args: { host: 'api.example.org', size: 1 } })).disposition).toBe('queued')
    expect((await submit(kernel, { id: 'b', capability: 'test.fetch', args: { host: 'evil.com', size: 1 } })).error?.code).toBe('GRANT_OUT_OF_SCOPE')
  })

  it('`handle(SubmitToken)` emits capability_violation (ceiling_exceeded) for a budget above the ceiling', async () => {
    const { kernel } = await createTestKernel({ capabilities: { 'kernel.state.put': { ceiling: 10, cost: 1 } } })
    await grant(kernel, 'agent', 'kernel.state.put')
    const res = await submit(kernel, { ...put('t'), budget: { tokens: 11 } })
    expect(res.error?.code).toBe('CEILING_EXCEEDED')
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'capability_violation', 'failed'])
    expect(eventPayloads(kernel, 'capability_violation', 't')[0]).toMatchObject({ reason: 'ceiling_exceeded', limit: 10, requested: 11 })
    // a token that leaves its budget unset is clamped to the ceiling
    expect((await submit(kernel, put('u'))).disposition).toBe('queued')
    expect(kernel.token('u')?.budget.tokens).toBe(10)
  })

  it('`step()` emits capability_violation (rate_limited) when the token bucket is empty, and refills it per tick', async () => {
    const { kernel } = await createTestKernel({ capabilities: { 'kernel.state.put': { ceiling: 100, cost: 1, rateLimit: { capacity: 2, refillPerTick: 0.1 } } } })
    await grant(kernel, 'agent', 'kernel.state.put')
    await grant(kernel, 'agent', 'kernel.sleep')
    for (const id of ['a', 'b', 'c']) await submit(kernel, put(id))
    await kernel.runUntilIdle()
    expect(eventTypes(kernel, { tokenId: 'a' }).at(-1)).toBe('completed')
    expect(eventTypes(kernel, { tokenId: 'b' }).at(-1)).toBe('completed')
    expect(eventTypes(kernel, { tokenId: 'c' })).toEqual(['request', 'scheduled', 'capability_violation', 'failed'])
    expect(kernel.token('c')?.error?.code).toBe('RATE_LIMITED')
    // after sleeping 20 ticks the bucket holds 2 again
    await submit(kernel, { id: 'nap', capability: 'kernel.sleep', args: { ticks: 20 } })
    await kernel.runUntilIdle()
    await submit(kernel, put('d'))
    await kernel.runUntilIdle()
    expect(kernel.token('d')?.state).toBe('completed')
  })

  it('`capabilities()` reports usage counters kept in kernel state', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, put('a'))
    await submit(kernel, put('b'))
    await kernel.runUntilIdle()
    const info = kernel.capabilities().find(c => c.id === 'kernel.state.put')
    expect(info?.usage).toEqual({ invocations: 2, tokensCharged: 4 })
    expect(info?.argsSchema).toMatchObject({ type: 'object' })
    expect(kernel.state.get('usage', 'kernel.state.put')).toEqual({ invocations: 2, tokensCharged: 4 })
  })

  it('`scopeGap()` and `hostAllowed()` match namespaces, wildcard hosts and path prefixes', () => {
    expect(scopeGap({ namespaces: ['*'] }, { namespaces: ['x'] })).toBeUndefined()
    expect(scopeGap({ namespaces: ['a'] }, { namespaces: ['a', 'b'] })).toBe('namespace b')
    expect(scopeGap({ pathPrefix: '/data/' }, { paths: ['/data/x'] })).toBeUndefined()
    expect(scopeGap({ pathPrefix: '/data/' }, { paths: ['/data/../etc'] })).toBe('path /data/../etc')
    expect(scopeGap({ pathPrefix: '/data/' }, { paths: ['/etc'] })).toBe('path /etc')
    expect(hostAllowed(['*.example.org'], 'a.b.example.org')).toBe(true)
    expect(hostAllowed(['*.example.org'], 'example.org.evil')).toBe(false)
    expect(hostAllowed(['example.org'], 'EXAMPLE.org')).toBe(true)
  })
})
