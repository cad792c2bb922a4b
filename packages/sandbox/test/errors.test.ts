import { describe, expect, it } from 'vitest'
import { SANDBOX_ERROR_CODES, SandboxError, isSandboxError } from '../src/index.ts'

describe('SandboxError', () => {
  it('toWire() carries the stable code and message', () => {
    const err = new SandboxError('SANDBOX_CLOSED', 'Cannot run: closed')
    expect(err.name).toBe('SandboxError')
    expect(err.toWire()).toEqual({ code: 'SANDBOX_CLOSED', message: 'Cannot run: closed' })
  })

  it('isSandboxError() narrows by code when one is given', () => {
    const err = new SandboxError('BUDGET_EXCEEDED', 'x')
    expect(isSandboxError(err)).toBe(true)
    expect(isSandboxError(err, 'BUDGET_EXCEEDED')).toBe(true)
    expect(isSandboxError(err, 'SANDBOX_CLOSED')).toBe(false)
    expect(isSandboxError(new Error('x'))).toBe(false)
  })

  it('SANDBOX_ERROR_CODES keeps the kernel codes the bridge shares', () => {
    expect(Object.keys(SANDBOX_ERROR_CODES)).toEqual(expect.arrayContaining(['CAPABILITY_DENIED', 'HANDLER_FAILED', 'BUDGET_EXCEEDED']))
  })
})
