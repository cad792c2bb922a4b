import type { TokenStatus } from '@os2/kernel'
import type { Output } from './output.ts'
import { clip } from './output.ts'

/** Compact one-line JSON for table cells. */
export function inline (value: unknown, max = 60): string {
  if (value === undefined) return ''
  return clip(typeof value === 'string' ? value : JSON.stringify(value), max)
}

/** Prints a token's status as a key/value table. */
export function printTokenStatus (out: Output, status: TokenStatus): void {
  const pairs: Array<[string, string | number]> = [
    ['token', status.token.id],
    ['capability', status.token.capability],
    ['principal', status.token.principal],
    ['state', status.state],
    ['priority', status.token.priority],
    ['submitted at seq', status.submittedSeq],
    ['budget', `tokens ${status.budget.tokens}, memory ${status.budget.memory}, network ${status.budget.network}, wall ${status.budget.wallClockMs} ms`],
    ['used', `tokens ${status.used.tokens}, memory ${status.used.memory}, network ${status.used.network}, wall ${status.used.wallClockMs} ms`]
  ]
  if (status.token.after.length > 0) pairs.push(['after', status.token.after.join(', ')])
  if (status.token.tag !== undefined) pairs.push(['tag', status.token.tag])
  if (status.result !== undefined) pairs.push(['result', inline(status.result, 200)])
  if (status.error !== undefined) pairs.push(['error', `${status.error.code}: ${status.error.message}`])
  out.fields(pairs)
}
