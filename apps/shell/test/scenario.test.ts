import { describe, expect, it } from 'vitest'
import { parseScenario } from '../src/scenario.ts'

function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return `${(err as { code?: string }).code}: ${(err as Error).message}`
  }
  return undefined
}

describe('parseScenario()', () => {
  it('`parseScenario()` accepts the documented format and stringifies integer seeds', () => {
    const s = parseScenario({ description: 'd', seed: 7, steps: [{ name: 'n', request: { type: 'ListSnapshots' }, expect: { disposition: 'accepted', errorCode: 'X', tokenState: 'completed' } }, { request: 1 }] })
    expect(s).toEqual({ description: 'd', seed: '7', steps: [{ name: 'n', request: { type: 'ListSnapshots' }, expect: { disposition: 'accepted', errorCode: 'X', tokenState: 'completed' } }, { request: 1 }] })
  })

  it('`parseScenario()` throws SCENARIO_INVALID naming the field when the shape is wrong', () => {
    expect(codeOf(() => parseScenario([]))).toMatch(/^SCENARIO_INVALID: Invalid scenario at \$:/)
    expect(codeOf(() => parseScenario({ steps: {} }))).toMatch(/at \$\.steps: expected an array/)
    expect(codeOf(() => parseScenario({ steps: [], extra: 1 }))).toMatch(/unknown field "extra"/)
    expect(codeOf(() => parseScenario({ seed: 1.5, steps: [] }))).toMatch(/at \$\.seed/)
    expect(codeOf(() => parseScenario({ steps: [{}] }))).toMatch(/at \$\.steps\[0\]: missing "request"/)
    expect(codeOf(() => parseScenario({ steps: [{ request: {}, expect: { disposition: 'maybe' } }] }))).toMatch(/\$\.steps\[0\]\.expect\.disposition/)
    expect(codeOf(() => parseScenario({ steps: [{ request: {}, expect: { tokenState: 'done' } }] }))).toMatch(/\$\.steps\[0\]\.expect\.tokenState/)
    expect(codeOf(() => parseScenario({ steps: [{ request: {}, expect: { result: 1 } }] }))).toMatch(/unknown field "result"/)
  })
})
