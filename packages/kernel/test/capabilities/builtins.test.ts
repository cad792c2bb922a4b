import { describe, expect, it } from 'vitest'
import { createTestKernel, eventPayloads, eventTypes, grant, submit } from '../../src/testing/index.ts'

describe('built-in capabilities', () => {
  it('`kernel.state.*` put, get, list and delete keys in a namespace', async () => {
    const { kernel } = await createTestKernel()
    for (const c of ['put', 'get', 'list', 'delete']) await grant(kernel, 'agent', `kernel.state.${c}`, { scope: { namespaces: ['n'] } })
    await submit(kernel, { id: 'p1', capability: 'kernel.state.put', args: { namespace: 'n', key: 'b', value: { x: 1 } } })
    await submit(kernel, { id: 'p2', capability: 'kernel.state.put', args: { namespace: 'n', key: 'a', value: 'y' } })
    await submit(kernel, { id: 'g', capability: 'kernel.state.get', args: { namespace: 'n', key: 'b' }, after: ['p1'] })
    await submit(kernel, { id: 'l', capability: 'kernel.state.list', args: { namespace: 'n' }, after: ['p1', 'p2'] })
    await submit(kernel, { id: 'd', capability: 'kernel.state.delete', args: { namespace: 'n', key: 'a' }, after: ['l'] })
    await kernel.runUntilIdle()
    expect(kernel.token('g')?.result).toEqual({ found: true, value: { x: 1 } })
    expect(kernel.token('l')?.result).toEqual({ entries: [{ key: 'a', value: 'y' }, { key: 'b', value: { x: 1 } }] })
    expect(kernel.token('d')?.result).toEqual({ existed: true })
    expect(kernel.kv('n')).toEqual([{ namespace: 'n', key: 'b', value: { x: 1 } }])
    expect(kernel.token('p1')?.used.memory).toBe(8)
  })

  it('`kernel.state.put` fails with PAYLOAD_TOO_LARGE above maxPayloadBytes', async () => {
    const { kernel } = await createTestKernel({ limits: { maxPayloadBytes: 32 } })
    await grant(kernel, 'agent', 'kernel.state.put')
    await submit(kernel, { id: 't', capability: 'kernel.state.put', args: { namespace: 'n', key: 'k', value: 'z'.repeat(40) } })
    await kernel.runUntilIdle()
    expect(kernel.token('t')?.error?.code).toBe('PAYLOAD_TOO_LARGE')
    expect(eventTypes(kernel, { tokenId: 't' })).toEqual(['request', 'scheduled', 'started', 'failed'])
  })

  it('`kernel.emit` appends a custom event with name and data', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.emit')
    await submit(kernel, { id: 'e', capability: 'kernel.emit', args: { name: 'progress', data: { pct: 50 } } })
    await kernel.runUntilIdle()
    expect(eventPayloads(kernel, 'custom', 'e')).toEqual([{ name: 'progress', data: { pct: 50 } }])
  })

  it('`kernel.script` commits all of its writes or none', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.script')
    await submit(kernel, { id: 'ok', capability: 'kernel.script', args: { ops: [{ op: 'put', namespace: 'n', key: 'a', value: 1 }, { op: 'get', namespace: 'n', key: 'a' }] } })
    await submit(kernel, { id: 'bad', capability: 'kernel.script', args: { ops: [{ op: 'put', namespace: 'n', key: 'b', value: 1 }, { op: 'fail', message: 'nope' }] } })
    await kernel.runUntilIdle()
    expect(kernel.token('ok')?.result).toEqual({ results: [true, 1] })
    expect(kernel.token('bad')?.error?.code).toBe('HANDLER_FAILED')
    expect(kernel.kv('n').map(e => e.key)).toEqual(['a'])
  })

  it('`kernel.script` charge steps overrun each budget kind', async () => {
    const { kernel } = await createTestKernel()
    await grant(kernel, 'agent', 'kernel.script')
    const kinds = ['tokens', 'memory', 'network', 'wallClockMs'] as const
    for (const kind of kinds) {
      await submit(kernel, { id: `over-${kind}`, capability: 'kernel.script', args: { ops: [{ op: 'charge', kind, amount: 20 }] }, budget: { [kind]: 10 } })
    }
    await kernel.runUntilIdle()
    for (const kind of kinds) {
      expect(eventTypes(kernel, { tokenId: `over-${kind}` }).slice(-2)).toEqual(['resource_budget_exceeded', 'failed'])
      expect(eventPayloads(kernel, 'resource_budget_exceeded', `over-${kind}`)[0]?.kind).toBe(kind)
    }
  })
})
