import { readFile } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { DEFAULT_CAPABILITY_LIMITS, createGenesis, isKernelError, parseCapabilityLimits, parseGenesis } from '../src/index.ts'

const TOML_PATH = new URL('../../../docs/CapabilityLimits.toml', import.meta.url)

describe('parseCapabilityLimits()', () => {
  it('`parseCapabilityLimits()` reads docs/CapabilityLimits.toml into exactly the built-in defaults', async () => {
    const parsed = parseCapabilityLimits(await readFile(TOML_PATH, 'utf8'))
    expect(parsed).toEqual(DEFAULT_CAPABILITY_LIMITS)
    expect(parsed.capabilities['kernel.emit']?.rateLimit).toEqual({ capacity: 64, refillPerTick: 1 })
  })

  it('`parseCapabilityLimits()` throws CONFIG_INVALID for bad TOML or a bad shape', () => {
    expect(() => parseCapabilityLimits('[kernel\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    expect(() => parseCapabilityLimits('[kernel]\nmax_request_bytes = -1\n')).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
  })

  it('`createGenesis()` builds from TOML text and `parseGenesis()` accepts it back', async () => {
    const genesis = createGenesis({ seed: 9, operator: 'op', limits: await readFile(TOML_PATH, 'utf8') })
    expect(genesis.seed).toBe('9')
    expect(parseGenesis(JSON.parse(JSON.stringify(genesis)))).toEqual(genesis)
    let err: unknown
    try { parseGenesis({ ...genesis, version: 2 }) } catch (e) { err = e }
    expect(isKernelError(err, 'GENESIS_INVALID')).toBe(true)
  })
})
