// The canonical encoder itself, in plain JavaScript (node: imports only) so
// worker threads that run without a TypeScript loader (the kernel's replay
// and ledger hash workers) encode with this very function. canonical.ts wraps
// it with the typed, throwing `canonicalize` the rest of OS2 calls.

/**
 * RFC 8785 canonical JSON of `value`, or `undefined` when something inside is
 * not canonical JSON (NaN, Infinity, bigint, functions, symbols, `undefined`
 * in arrays, non-plain objects). `undefined` object members are dropped.
 *
 * @param {unknown} value
 * @returns {string | undefined}
 */
export function encodeCanonical (value) {
  switch (typeof value) {
    case 'string':
      return quote(value)
    case 'number':
      if (!Number.isFinite(value)) return undefined
      // ECMAScript Number::toString is exactly RFC 8785's number form; -0 (=== 0) becomes 0.
      return value === 0 ? '0' : String(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          const item = encodeCanonical(value[i])
          if (item === undefined) return undefined
          if (i > 0) out += ','
          out += item
        }
        return out + ']'
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) return undefined
      const record = /** @type {Record<string, unknown>} */ (value)
      const keys = sortKeys(Object.keys(record))
      let out = '{'
      let first = true
      for (const key of keys) {
        const member = record[key]
        if (member === undefined) continue
        const item = encodeCanonical(member)
        if (item === undefined) return undefined
        if (!first) out += ','
        first = false
        out += quoteKey(key) + ':' + item
      }
      return out + '}'
    }
    default:
      return undefined
  }
}

// Characters JSON.stringify (and so RFC 8785) escapes, and surrogates, which it escapes when lone.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/

/**
 * JSON.stringify(value) for a string; most strings need no escape and skip the native call (~40% cheaper).
 *
 * @param {string} value
 * @returns {string}
 */
export function quote (value) {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`
}

/**
 * Sorts member names by UTF-16 code units (RFC 8785's order; `<` on strings
 * compares exactly that), in place. Objects here have a handful of members,
 * often already in order: an insertion sort does no allocation, where
 * `Array.prototype.sort` allocated about a fifth of every byte replay allocated.
 *
 * @param {string[]} keys
 * @returns {string[]}
 */
function sortKeys (keys) {
  if (keys.length > 32) return keys.sort()
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]
    let j = i - 1
    while (j >= 0 && keys[j] > key) {
      keys[j + 1] = keys[j]
      j--
    }
    keys[j + 1] = key
  }
  return keys
}

// Envelopes and payloads reuse a small set of member names; quoting each once saves an allocation per member.
/** @type {Map<string, string>} */
const quotedKeys = new Map()
/**
 * @param {string} key
 * @returns {string}
 */
function quoteKey (key) {
  let quoted = quotedKeys.get(key)
  if (quoted === undefined) {
    quoted = quote(key)
    if (quotedKeys.size < 4096 && key.length <= 64) quotedKeys.set(key, quoted)
  }
  return quoted
}
