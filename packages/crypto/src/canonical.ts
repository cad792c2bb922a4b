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
  const out = encode(value)
  // The hot path carries no location; only a refusal pays for finding where it was.
  if (out === undefined) throw unsupported(value)
  return out
}

/** The canonical form of `value`, or `undefined` when something inside is not canonical JSON. */
function encode (value: unknown): string | undefined {
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
          const item = encode(value[i])
          if (item === undefined) return undefined
          if (i > 0) out += ','
          out += item
        }
        return out + ']'
      }
      const proto = Object.getPrototypeOf(value) as unknown
      if (proto !== Object.prototype && proto !== null) return undefined
      const record = value as Record<string, unknown>
      const keys = sortKeys(Object.keys(record))
      let out = '{'
      let first = true
      for (const key of keys) {
        const member = record[key]
        if (member === undefined) continue
        const item = encode(member)
        if (item === undefined) return undefined
        // One cached prefix (`"key":` or `,"key":`) per member: each `+` allocates a string.
        out += (first ? memberPrefix(key) : nextMemberPrefix(key)) + item
        first = false
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

/** JSON.stringify(value) for a string; most strings need no escape and skip the native call (~40% cheaper). */
export function quote (value: string): string {
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`
}

/**
 * Sorts member names by UTF-16 code units (RFC 8785's order; `<` on strings
 * compares exactly that), in place. Objects here have a handful of members,
 * often already in order: an insertion sort does no allocation, where
 * `Array.prototype.sort` allocated about a fifth of every byte replay allocated.
 */
function sortKeys (keys: string[]): string[] {
  if (keys.length > 32) return keys.sort()
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i] as string
    let j = i - 1
    while (j >= 0 && (keys[j] as string) > key) {
      keys[j + 1] = keys[j] as string
      j--
    }
    keys[j + 1] = key
  }
  return keys
}

// Envelopes and payloads reuse a small set of member names: their quoted prefixes are made once.
const prefixes = new Map<string, string>()
const nextPrefixes = new Map<string, string>()

/** `"key":` for the first member of an object. */
function memberPrefix (key: string): string {
  let p = prefixes.get(key)
  if (p === undefined) {
    p = quote(key) + ':'
    if (prefixes.size < 4096 && key.length <= 64) prefixes.set(key, p)
  }
  return p
}

/** `,"key":` for every later member. */
function nextMemberPrefix (key: string): string {
  let p = nextPrefixes.get(key)
  if (p === undefined) {
    p = ',' + quote(key) + ':'
    if (nextPrefixes.size < 4096 && key.length <= 64) nextPrefixes.set(key, p)
  }
  return p
}

/** Walks `value` again to name the first non-canonical place (the cold path). */
function unsupported (value: unknown): CryptoError {
  const [path, what] = findUnsupported(value, '$') ?? ['$', 'value']
  return new CryptoError('CANONICAL_UNSUPPORTED_VALUE', `Cannot canonicalize value at ${path}: ${what} is not canonical JSON`)
}

function findUnsupported (value: unknown, path: string): [string, string] | undefined {
  switch (typeof value) {
    case 'string': case 'boolean': return undefined
    case 'number': return Number.isFinite(value) ? undefined : [path, String(value)]
    case 'object': {
      if (value === null) return undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i]
          if (item === undefined) return [`${path}[${i}]`, 'undefined']
          const found = findUnsupported(item, `${path}[${i}]`)
          if (found !== undefined) return found
        }
        return undefined
      }
      const proto = Object.getPrototypeOf(value) as unknown
      if (proto !== Object.prototype && proto !== null) return [path, (value as object).constructor?.name ?? 'object']
      for (const key of Object.keys(value).sort()) {
        const member = (value as Record<string, unknown>)[key]
        if (member === undefined) continue
        const found = findUnsupported(member, `${path}.${key}`)
        if (found !== undefined) return found
      }
      return undefined
    }
    default:
      return [path, typeof value]
  }
}

/** Canonical UTF-8 bytes of `value`. */
export function canonicalBytes (value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalize(value))
}
