import { CryptoError } from './errors.ts'

/** A value the canonical encoder accepts: JSON, with `undefined` object members dropped. */
export type CanonicalValue =
  | null | boolean | number | string
  | readonly CanonicalValue[]
  | { readonly [key: string]: CanonicalValue | undefined }

/**
 * RFC 8785 (JCS) canonical JSON: object members sorted by UTF-16 code units,
 * no insignificant white space, ECMAScript number serialisation, minimal string escapes.
 * Every hash in OS2 goes through this one function.
 *
 * @throws CryptoError `CANONICAL_UNSUPPORTED_VALUE` for NaN, Infinity, bigint, functions,
 * symbols, `undefined` in arrays, or non-plain objects (Date, Map, class instances).
 * @example
 * canonicalize({ b: 1, a: [true, null] }) // '{"a":[true,null],"b":1}'
 */
export function canonicalize (value: unknown): string {
  return encode(value, '$')
}

function encode (value: unknown, path: string): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value)
    case 'number':
      if (!Number.isFinite(value)) throw unsupported(path, String(value))
      // ECMAScript Number::toString is exactly RFC 8785's number form; -0 becomes 0.
      return Object.is(value, -0) ? '0' : JSON.stringify(value)
    case 'boolean':
      return value ? 'true' : 'false'
    case 'object': {
      if (value === null) return 'null'
      if (Array.isArray(value)) {
        let out = '['
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i]
          if (item === undefined) throw unsupported(`${path}[${i}]`, 'undefined')
          if (i > 0) out += ','
          out += encode(item, `${path}[${i}]`)
        }
        return out + ']'
      }
      const proto = Object.getPrototypeOf(value) as unknown
      if (proto !== Object.prototype && proto !== null) {
        throw unsupported(path, (value as object).constructor?.name ?? 'object')
      }
      const record = value as Record<string, unknown>
      // Default sort compares UTF-16 code units, which is what RFC 8785 asks for.
      const keys = Object.keys(record).sort()
      let out = '{'
      let first = true
      for (const key of keys) {
        const item = record[key]
        if (item === undefined) continue
        if (!first) out += ','
        first = false
        out += JSON.stringify(key) + ':' + encode(item, `${path}.${key}`)
      }
      return out + '}'
    }
    default:
      throw unsupported(path, typeof value)
  }
}

function unsupported (path: string, what: string): CryptoError {
  return new CryptoError('CANONICAL_UNSUPPORTED_VALUE', `Cannot canonicalize value at ${path}: ${what} is not canonical JSON`)
}

/** Canonical UTF-8 bytes of `value`. */
export function canonicalBytes (value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value))
}
