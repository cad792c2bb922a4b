import { describe, expect, it } from 'vitest'
import { createGenesis, createKernel } from '../../src/index.ts'

describe('operatorAttach', () => {
  it('`operator.attach` is a built-in capability that can be granted and revoked', async () => {
    const kernel = await createKernel({}, { genesis: createGenesis({ seed: 3 }) })
    expect(kernel.capabilities().map(c => c.id)).toContain('operator.attach')
    const res = await kernel.handle({ type: 'GrantCapability', grant: { principal: '12D3KooWshell', capability: 'operator.attach' } })
    expect(res.disposition).toBe('accepted')
    const grant = kernel.grants().find(g => g.capability === 'operator.attach')
    expect(grant?.principal).toBe('12D3KooWshell')
    await kernel.handle({ type: 'RevokeCapability', grantId: grant?.id ?? '' })
    expect(kernel.grants().find(g => g.id === grant?.id)?.revoked).toBe(true)
    await kernel.close()
  })

  it('`operator.attach` invoked by its grantee completes and changes no state', async () => {
    const kernel = await createKernel({}, { genesis: createGenesis({ seed: 3 }) })
    await kernel.handle({ type: 'GrantCapability', grant: { principal: 'p', capability: 'operator.attach' } })
    await kernel.handle({ type: 'SubmitToken', token: { id: 't', capability: 'operator.attach', principal: 'p', args: {} } })
    await kernel.runUntilIdle()
    expect(kernel.token('t')?.state).toBe('completed')
    expect(kernel.kv()).toEqual([])
    await kernel.close()
  })
})
