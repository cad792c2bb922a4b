import { canonicalize } from '@os2/crypto'

/**
 * `utf8Length(canonicalize(value))`, the size every payload limit is checked
 * against, measured without building the encoding: one pass over the value,
 * no strings allocated. Anything `canonicalize` refuses (NaN, Infinity,
 * `undefined` in an array, class instances...) falls back to `canonicalize`,
 * so it throws exactly the same error. Object keys need no sorting to be
 * measured.
 *
 * @throws CryptoError `CANONICAL_UNSUPPORTED_VALUE` as `canonicalize` does
 */
export function canonicalByteLength (value: unknown): number {
  const n = measure(value)
  if (n >= 0) return n
  return utf8Bytes(canonicalize(value))
}

/** Byte length of the canonical encoding, or -1 for a value `canonicalize` would refuse. */
function measure (value: unknown): number {
  switch (typeof value) {
    case 'string':
      return jsonStringBytes(value)
    case 'number':
      // Number::toString is ASCII and is what canonicalize writes (-0 as "0").
      return Number.isFinite(value) ? (Object.is(value, -0) ? 1 : String(value).length) : -1
    case 'boolean':
      return value ? 4 : 5
    case 'object': {
      if (value === null) return 4
      if (Array.isArray(value)) {
        let n = value.length > 0 ? 1 + value.length : 2
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i]
          if (item === undefined) return -1
          const m = measure(item)
          if (m < 0) return -1
          n += m
        }
        return n
      }
      const proto = Object.getPrototypeOf(value) as unknown
      if (proto !== Object.prototype && proto !== null) return -1
      const record = value as Record<string, unknown>
      let n = 2
      let members = 0
      for (const key of Object.keys(record)) {
        const item = record[key]
        if (item === undefined) continue
        const m = measure(item)
        if (m < 0) return -1
        n += jsonStringBytes(key) + 1 + m
        members++
      }
      return members > 1 ? n + members - 1 : n
    }
    default:
      return -1
  }
}

/** UTF-8 bytes of `JSON.stringify(s)`: quotes, two-char escapes, `\u00XX` for other controls and lone surrogates. */
function jsonStringBytes (s: string): number {
  let n = 2
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) {
      if (c >= 0x20) n += c === 0x22 || c === 0x5c ? 2 : 1
      else n += c === 0x08 || c === 0x09 || c === 0x0a || c === 0x0c || c === 0x0d ? 2 : 6
    } else if (c < 0x800) {
      n += 2
    } else if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0
      if (d >= 0xdc00 && d <= 0xdfff) { n += 4; i++ } else n += 6
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      n += 6
    } else {
      n += 3
    }
  }
  return n
}

/** UTF-8 byte length of a well-formed string (what the fallback path measures). */
function utf8Bytes (s: string): number {
  return Buffer.byteLength(s, 'utf8')
}
