import { CryptoError } from './errors.ts'
import { encodeCanonical } from './canonical-encode.mjs'

export { quote } from './canonical-encode.mjs'

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
  const out = encodeCanonical(value)
  // The hot path carries no location; only a refusal pays for finding where it was.
  if (out === undefined) throw unsupported(value)
  return out
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
