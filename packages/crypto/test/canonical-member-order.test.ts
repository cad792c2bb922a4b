import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { canonicalize } from '../src/canonical.ts'

/** A reference: RFC 8785 member order with the engine's default sort (UTF-16 code units). */
function reference (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>
    return `{${Object.keys(record).sort().map(k => `${JSON.stringify(k)}:${reference(record[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

describe('canonicalize member order', () => {
  it('orders members as Array.prototype.sort does, for any names (surrogates, digits, long objects)', () => {
    const key = fc.oneof(fc.string({ unit: 'binary', maxLength: 6 }), fc.string({ unit: fc.constantFrom('a', 'b', '0', '1', '9', '\u00e9', '\ud83d', '\ude00'), maxLength: 4 }))
    const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean(), fc.constant(null))
    const value = fc.letrec(tie => ({
      node: fc.oneof({ depthSize: 'small' }, leaf, fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(key, tie('node'), { maxKeys: 40 }))
    })).node
    fc.assert(fc.property(value, v => { expect(canonicalize(v)).toBe(reference(v)) }), { numRuns: 2000, seed: Number(process.env.SEED ?? 8785) })
  })
})
