// Plain JavaScript (node: imports only) so the ledger hash worker
// (node/ledger-hash-worker.mjs) shares it under tsx, vitest or a bundle.
import { hash } from 'node:crypto'

/**
 * Whether `line` is byte for byte the canonical JSON of `parsed` (what
 * `JSON.parse(line)` gave), checked without re-encoding in JavaScript:
 * `JSON.stringify` of a parsed value writes numbers and strings exactly as
 * RFC 8785 does, with no white space, and keeps member order; so if it
 * reproduces the line and every object's members are in UTF-16 order, the
 * line is canonical. False means "not shown canonical here", not "not
 * canonical": objects with integer-like member names, which V8 reorders on
 * parse, take the caller's exact (slower) path, as does every real failure.
 *
 * @param {string} line
 * @param {unknown} parsed
 * @returns {boolean}
 */
export function isCanonicalLine (line, parsed) {
  return membersSorted(parsed, 0) && JSON.stringify(parsed) === line
}

/**
 * @param {unknown} value
 * @param {number} depth
 * @returns {boolean}
 */
function membersSorted (value, depth) {
  if (typeof value !== 'object' || value === null) return true
  if (depth > 64) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!membersSorted(value[i], depth + 1)) return false
    return true
  }
  /** @type {string | undefined} */
  let prev
  for (const key in value) {
    if (prev !== undefined && !(prev < key)) return false
    prev = key
    if (!membersSorted(/** @type {Record<string, unknown>} */ (value)[key], depth + 1)) return false
  }
  return true
}

/**
 * SHA-256 (hex) of a canonical envelope line with its `hash` member taken out
 * (the canonical body the hash covers), or undefined when the member is not
 * there with 64 characters. In a canonical envelope it comes right after
 * `event_id`, before the payload, so the first match is the envelope's own.
 *
 * @param {string} line
 * @param {string} claimed
 * @returns {string | undefined}
 */
export function lineBodyHash (line, claimed) {
  if (claimed.length !== 64) return undefined
  const member = `,"hash":"${claimed}"`
  const at = line.indexOf(member)
  if (at < 0) return undefined
  return hash('sha256', line.slice(0, at) + line.slice(at + member.length), 'hex')
}
