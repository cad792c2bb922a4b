import { describe, expect, it } from 'vitest'
import { canonicalize, canonicalBytes, hashCanonical, CryptoError } from '../src/index.ts'

describe('canonicalize()', () => {
  it('sorts members by UTF-16 code units, as RFC 8785 section 3.2.3 does', () => {
    // The RFC's own sorting example: code-unit order puts "\u20ac" before "\ud83d\ude00" before "\ufb33".
    const value = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' }
    const keys = Object.keys(JSON.parse(canonicalize(value)) as object)
    expect(canonicalize(value)).toBe('{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
    expect(keys).toHaveLength(7)
  })

  it('serialises numbers the ECMAScript way (RFC 8785 appendix B)', () => {
    expect(canonicalize([0, -0, 1, -1, 1e21, 1e-7, 0.000001, 333333333.3333333, 9007199254740991, 5e-324, 1.7976931348623157e308]))
      .toBe('[0,0,1,-1,1e+21,1e-7,0.000001,333333333.3333333,9007199254740991,5e-324,1.7976931348623157e+308]')
  })

  it('escapes strings minimally and keeps non-ASCII as is', () => {
    expect(canonicalize({ s: 'a"b\\c\n\u0001\u2028é' })).toBe('{"s":"a\\"b\\\\c\\n\\u0001\u2028é"}')
  })

  it('drops undefined members and is independent of insertion order', () => {
    expect(canonicalize({ b: 1, a: { d: undefined, c: [true, null] } })).toBe('{"a":{"c":[true,null]},"b":1}')
    expect(hashCanonical({ x: 1, y: [2, 3] })).toBe(hashCanonical({ y: [2, 3], x: 1 }))
    expect(new TextDecoder().decode(canonicalBytes({ k: 'é' }))).toBe('{"k":"é"}')
  })

  it('refuses values JSON cannot represent exactly, naming where they are', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ a: [1, undefined] }, /at \$\.a\[1\]: undefined/],
      [{ a: { b: Number.NaN } }, /at \$\.a\.b: NaN/],
      [{ n: Infinity }, /at \$\.n: Infinity/],
      [{ d: new Date(0) }, /at \$\.d: Date/],
      [{ m: new Map() }, /at \$\.m: Map/],
      [{ x: 1n }, /at \$\.x: bigint/],
      [{ f: () => 1 }, /at \$\.f: function/]
    ]
    for (const [value, message] of cases) {
      let caught: unknown
      try { canonicalize(value) } catch (err) { caught = err }
      expect(caught).toBeInstanceOf(CryptoError)
      expect((caught as CryptoError).code).toBe('CANONICAL_UNSUPPORTED_VALUE')
      expect((caught as CryptoError).message).toMatch(message)
    }
  })

  it('accepts objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, number>
    bare.b = 2
    bare.a = 1
    expect(canonicalize(bare)).toBe('{"a":1,"b":2}')
  })
})
