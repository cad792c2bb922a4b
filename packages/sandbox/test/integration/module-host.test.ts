import { describe, expect, it } from 'vitest'
import { createModuleHost } from '../../src/capability/module-host.ts'

/** (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add) */
const ADD = Buffer.from('0061736d0100000001070160027f7f017f030201000707010361646400000a09010700200020016a0b', 'hex')
/** (func (export "spin") (loop (br 0))) */
const SPIN = Buffer.from('0061736d0100000001040160000003020100070801047370696e00000a0901070003400c000b0b', 'hex')

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try { await p } catch (err) { return (err as { code?: string }).code }
  return undefined
}

describe('createModuleHost()', () => {
  it('`call()` runs an export in the WASI runner process and reports unknown exports', async () => {
    const host = createModuleHost([{ name: 'calc', bytes: ADD }])
    try {
      expect(await host.call('calc', 'add', [40, 2])).toBe(42)
      expect(await host.call('calc', 'add', [-1, 1])).toBe(0)
      expect(await codeOf(host.call('calc', 'mul', [1, 2]))).toBe('UNKNOWN_EXPORT')
      expect(await codeOf(host.call('other', 'add', [1, 2]))).toBe('UNKNOWN_MODULE')
    } finally {
      host.close()
    }
  })

  it('`call()` kills an export that runs past the timeout', async () => {
    const host = createModuleHost([{ name: 'loop', bytes: SPIN }], { callTimeoutMs: 300 })
    try {
      expect(await codeOf(host.call('loop', 'spin', []))).toBe('MODULE_TIMEOUT')
    } finally {
      host.close()
    }
  })
})
