import type { CanonicalValue } from '@os2/crypto'
import { isJsonValue } from './json-value.ts'
import type { KernelRequest } from './schemas.ts'

/**
 * Conservative fast paths beside the zod schemas, for the requests and
 * arguments every token carries. zod stays the definition: a quick parser
 * returns exactly what the schema's `parse` would (same members, same
 * values, a fresh object where zod makes one) for inputs it is sure of, and
 * undefined for anything else, which then goes to zod (for the result and
 * the error message). Replay re-validates every recorded request, and zod's
 * generic walk was ~13% of it. `test/protocol/quick-parse.property.test.ts`
 * checks each quick parser against its schema on generated inputs.
 */

const ID = /^[A-Za-z0-9._:@-]{1,128}$/
const CAPABILITY_ID = /^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/

function isId (value: unknown): value is string {
  return typeof value === 'string' && ID.test(value)
}

function isCount (value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isString (value: unknown, min: number, max: number): value is string {
  return typeof value === 'string' && value.length >= min && value.length <= max
}

/**
 * `value` as a record when it is a plain object whose own members are all in
 * `allowed` and none is `undefined` (zod's handling of those is left to zod),
 * and no inherited member is enumerable; otherwise undefined.
 */
export function plainRecord (value: unknown, allowed: ReadonlySet<string>): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const proto = Object.getPrototypeOf(value) as unknown
  if (proto !== Object.prototype && proto !== null) return undefined
  const record = value as Record<string, unknown>
  for (const key in record) {
    if (!Object.hasOwn(record, key) || !allowed.has(key) || record[key] === undefined) return undefined
  }
  return record
}

const REQUEST_KEYS = new Set(['type', 'from', 'token'])
const TOKEN_KEYS = new Set(['id', 'capability', 'args', 'priority', 'after', 'budget', 'principal', 'tag'])
const BUDGET_KEYS = new Set(['tokens', 'memory', 'network', 'wallClockMs'])

type SubmitTokenRequest = Extract<KernelRequest, { type: 'SubmitToken' }>
type Budget = SubmitTokenRequest['token']['budget']

function quickBudget (value: unknown): Budget | undefined {
  if (value === undefined) return {}
  const b = plainRecord(value, BUDGET_KEYS)
  if (b === undefined) return undefined
  const out: Budget = {}
  for (const kind of BUDGET_KEYS) {
    const n = b[kind]
    if (n === undefined) continue
    if (!isCount(n)) return undefined
    out[kind as keyof Budget] = n
  }
  return out
}

function quickAfter (value: unknown): string[] | undefined {
  if (value === undefined) return []
  if (!Array.isArray(value) || value.length > 64) return undefined
  const out: string[] = []
  for (let i = 0; i < value.length; i++) {
    const id: unknown = value[i]
    if (!isId(id)) return undefined
    out.push(id)
  }
  return out
}

/** `KernelRequest.parse(request)` for a well-formed `SubmitToken`; undefined for anything zod should judge. */
export function quickSubmitToken (request: unknown): SubmitTokenRequest | undefined {
  const r = plainRecord(request, REQUEST_KEYS)
  if (r === undefined || r.type !== 'SubmitToken') return undefined
  const from = r.from
  if (from !== undefined && !isId(from)) return undefined
  const t = plainRecord(r.token, TOKEN_KEYS)
  if (t === undefined) return undefined
  const { id, capability, priority, principal, tag } = t
  if (!isId(id) || !isId(principal) || !isString(capability, 1, 64) || !CAPABILITY_ID.test(capability)) return undefined
  if (priority !== undefined && !(typeof priority === 'number' && Number.isInteger(priority) && priority >= 0 && priority <= 1000)) return undefined
  if (tag !== undefined && !isString(tag, 0, 128)) return undefined
  const after = quickAfter(t.after)
  const budget = quickBudget(t.budget)
  if (after === undefined || budget === undefined) return undefined
  const token: SubmitTokenRequest['token'] = { id, capability, args: t.args === undefined ? {} : t.args, priority: priority ?? 0, after, budget, principal }
  if (tag !== undefined) token.tag = tag
  return from === undefined ? { type: 'SubmitToken', token } : { type: 'SubmitToken', from, token }
}

const KEY_ARGS = new Set(['namespace', 'key'])
const PUT_ARGS = new Set(['namespace', 'key', 'value'])
const EMIT_ARGS = new Set(['name', 'data'])

/** `{ namespace, key }` of the state capabilities' schemas. */
export function quickKeyArgs (args: unknown): { namespace: string, key: string } | undefined {
  const a = plainRecord(args, KEY_ARGS)
  if (a === undefined || !isId(a.namespace) || !isString(a.key, 1, 512)) return undefined
  return { namespace: a.namespace, key: a.key }
}

/** `{ namespace, key, value }` of `kernel.state.put`. */
export function quickPutArgs (args: unknown): { namespace: string, key: string, value: CanonicalValue } | undefined {
  const a = plainRecord(args, PUT_ARGS)
  if (a === undefined || !isId(a.namespace) || !isString(a.key, 1, 512) || a.value === undefined || !isJsonValue(a.value)) return undefined
  return { namespace: a.namespace, key: a.key, value: a.value as CanonicalValue }
}

/** `{ name, data? }` of `kernel.emit`. */
export function quickEmitArgs (args: unknown): { name: string, data?: CanonicalValue } | undefined {
  const a = plainRecord(args, EMIT_ARGS)
  if (a === undefined || !isString(a.name, 1, 128)) return undefined
  if (a.data === undefined) return { name: a.name }
  if (!isJsonValue(a.data)) return undefined
  return { name: a.name, data: a.data as CanonicalValue }
}
