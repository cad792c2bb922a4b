import { sha256Hex } from '@os2/crypto'

/**
 * Whether `line` is byte for byte the canonical JSON of `parsed` (what
 * `JSON.parse(line)` gave), checked without re-encoding in JavaScript:
 * `JSON.stringify` of a parsed value writes numbers and strings exactly as
 * RFC 8785 does, with no white space, and keeps member order; so if it
 * reproduces the line and every object's members are in UTF-16 order, the
 * line is canonical. False means "not shown canonical here", not "not
 * canonical": objects with integer-like member names, which V8 reorders on
 * parse, take the caller's exact (slower) path, as does every real failure.
 */
export function isCanonicalLine (line: string, parsed: unknown): boolean {
  return membersSorted(parsed, 0) && JSON.stringify(parsed) === line
}

function membersSorted (value: unknown, depth: number): boolean {
  if (typeof value !== 'object' || value === null) return true
  if (depth > 64) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!membersSorted(value[i], depth + 1)) return false
    return true
  }
  let prev: string | undefined
  for (const key in value) {
    if (prev !== undefined && !(prev < key)) return false
    prev = key
    if (!membersSorted((value as Record<string, unknown>)[key], depth + 1)) return false
  }
  return true
}

const HASH_MEMBER = ',"hash":"'

/**
 * SHA-256 of a canonical envelope line with its `hash` member taken out (the
 * canonical body the hash covers), or undefined when the member is not where
 * a canonical envelope has it (right after `event_id`, 64 hex digits).
 */
export function lineBodyHash (line: string, hash: string): string | undefined {
  const member = `${HASH_MEMBER}${hash}"`
  const at = line.indexOf(member)
  if (at < 0 || hash.length !== 64) return undefined
  return sha256Hex(line.slice(0, at) + line.slice(at + member.length))
}
