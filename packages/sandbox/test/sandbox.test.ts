import { describe, expect, it } from 'vitest'
import { createSandbox } from '../src/index.ts'

const syscalls = async (): Promise<{ ok: true, value: null }> => ({ ok: true, value: null })
const init = { seed: 1, tick: 0, unitBudget: 10, memoryLimitBytes: 2 ** 29, wallClockMs: 1000 }

describe('createSandbox() argument checks', () => {
  it('createSandbox() rejects a negative unit budget before spawning', async () => {
    await expect(createSandbox({ syscalls }, { ...init, unitBudget: -1 })).rejects.toBeInstanceOf(RangeError)
  })

  it('createSandbox() rejects a non-positive wall-clock limit', async () => {
    await expect(createSandbox({ syscalls }, { ...init, wallClockMs: 0 })).rejects.toBeInstanceOf(RangeError)
  })

  it('createSandbox() rejects a non-positive memory limit', async () => {
    await expect(createSandbox({ syscalls }, { ...init, memoryLimitBytes: 0 })).rejects.toBeInstanceOf(RangeError)
  })
})
