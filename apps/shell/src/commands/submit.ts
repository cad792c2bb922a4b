import { randomBytes } from 'node:crypto'
import type { KernelResponse } from '@os2/kernel'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { printTokenStatus } from '../format.ts'
import type { Output } from '../output.ts'
import { clip } from '../output.ts'
import { isRecord, parseJson, readInput } from '../read-json.ts'
import { withKernel } from '../with-kernel.ts'

const TOKEN_FLAGS = ['id', 'capability', 'priority', 'after', 'budgetTokens', 'budgetMemory', 'budgetNetwork', 'budgetWallMs', 'principal', 'tag'] as const

/** Builds the raw (unvalidated) request from the command line. */
async function rawRequest (ctx: CommandContext, opts: Record<string, unknown>, operator: string): Promise<unknown> {
  if (typeof opts.jsonRequest === 'string') {
    const clash = TOKEN_FLAGS.filter(f => opts[f] !== undefined)
    if (clash.length > 0 || opts.args !== '{}') throw new ShellError('USAGE', `Cannot combine --json-request with token flags (${[...clash, ...(opts.args !== '{}' ? ['args'] : [])].join(', ')})`)
    const parsed = parseJson(await readInput(ctx.io, opts.jsonRequest), 'request JSON')
    if (isRecord(parsed) && !('type' in parsed)) {
      // A bare KernelToken: wrap it, defaulting the principal to the operator.
      return { type: 'SubmitToken', token: { principal: operator, ...parsed } }
    }
    return parsed
  }
  if (typeof opts.capability !== 'string') throw new ShellError('USAGE', 'Missing --capability (or --json-request)')
  const args = parseJson(String(opts.args ?? '{}'), '--args JSON')
  const budget: Record<string, number> = {}
  if (typeof opts.budgetTokens === 'number') budget.tokens = opts.budgetTokens
  if (typeof opts.budgetMemory === 'number') budget.memory = opts.budgetMemory
  if (typeof opts.budgetNetwork === 'number') budget.network = opts.budgetNetwork
  if (typeof opts.budgetWallMs === 'number') budget.wallClockMs = opts.budgetWallMs
  const token: Record<string, unknown> = {
    id: typeof opts.id === 'string' ? opts.id : `tok-${randomBytes(6).toString('hex')}`,
    capability: opts.capability,
    args,
    principal: typeof opts.principal === 'string' ? opts.principal : operator,
    budget
  }
  if (typeof opts.priority === 'number') token.priority = opts.priority
  if (Array.isArray(opts.after)) token.after = opts.after
  if (typeof opts.tag === 'string') token.tag = opts.tag
  return { type: 'SubmitToken', token }
}

/** Throws the response's error when the kernel rejected the request. */
export function throwIfRejected (response: KernelResponse): void {
  if (response.disposition !== 'rejected') return
  const error = response.error ?? { code: 'REQUEST_REJECTED', message: 'The kernel rejected the request' }
  throw new ShellError(error.code, error.message, { details: { ledgerSeq: response.ledgerSeq } })
}

/** Prints a response for requests other than SubmitToken. */
export function printResponse (out: Output, response: KernelResponse): void {
  const pairs: Array<[string, string | number]> = [
    ['disposition', response.disposition],
    ['ledger seq', response.ledgerSeq],
    ['ledger hash', response.ledgerHash]
  ]
  const result = response.result
  if (isRecord(result) && isRecord(result.grant) && typeof result.grant.id === 'string') {
    const g = result.grant
    pairs.push(['grant', `${g.id} (${String(g.principal)} → ${String(g.capability)}, scope ${JSON.stringify(g.scope ?? {})}, version ${String(g.version)})`])
  } else if (result !== undefined) {
    pairs.push(['result', clip(JSON.stringify(result), 200)])
  }
  if (response.error !== undefined) pairs.push(['error', `${response.error.code}: ${response.error.message}`])
  out.fields(pairs)
}

/** `os2 submit …`: submits a token (or any protocol request), runs the scheduler until idle, prints the outcome. */
export async function submitCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel, genesis }) => {
    const request = ctx.backend.validateRequest(await rawRequest(ctx, opts, genesis.operator), genesis)
    const sizeBefore = kernel.ledger.size
    const response = await kernel.handle(request)
    if (request.type !== 'SubmitToken' || response.disposition === 'rejected') {
      const found = request.type === 'SubmitToken' ? kernel.token(request.token.id) : undefined
      // Only a token this request created (not an older one with the same id).
      const status = found !== undefined && found.submittedSeq >= sizeBefore ? found : undefined
      if (ctx.out.json) {
        ctx.out.document({ response, token: status ?? null, ledger: { size: kernel.ledger.size, head: kernel.ledger.head } })
      } else if (status !== undefined) {
        // Refused at submission (grant, ceiling, rate limit): the token exists, failed; show it once.
        printTokenStatus(ctx.out, status)
        ctx.out.line(`ledger ${kernel.ledger.size} events, head ${kernel.ledger.head}`)
      } else {
        printResponse(ctx.out, response)
      }
      throwIfRejected(response)
      return 0
    }
    const steps = opts.run === false ? 0 : await kernel.runUntilIdle()
    const status = kernel.token(request.token.id)
    if (ctx.out.json) {
      ctx.out.document({ response, steps, token: status ?? null, ledger: { size: kernel.ledger.size, head: kernel.ledger.head } })
    } else {
      if (status !== undefined) printTokenStatus(ctx.out, status)
      ctx.out.line(`ledger ${kernel.ledger.size} events, head ${kernel.ledger.head}`)
    }
    if (status !== undefined && (status.state === 'failed' || status.state === 'cancelled')) {
      throw new ShellError(status.error?.code ?? 'TOKEN_NOT_COMPLETED', status.error?.message ?? `Token ${status.token.id} ended ${status.state}`)
    }
    return 0
  })
}

/** `os2 cancel <tokenId>`. */
export async function cancelCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel, genesis }) => {
    const raw: Record<string, unknown> = { type: 'CancelToken', from: genesis.operator, tokenId: args[0] }
    if (typeof opts.reason === 'string') raw.reason = opts.reason
    const response = await kernel.handle(ctx.backend.validateRequest(raw, genesis))
    const status = kernel.token(String(args[0]))
    if (ctx.out.json) {
      ctx.out.document({ response, token: status ?? null })
    } else {
      printResponse(ctx.out, response)
      if (status !== undefined) printTokenStatus(ctx.out, status)
    }
    throwIfRejected(response)
    return 0
  })
}

/** `os2 token-show <tokenId>`. */
export async function tokenShowCommand (ctx: CommandContext, args: string[]): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const status = kernel.token(String(args[0]))
    if (status === undefined) throw new ShellError('UNKNOWN_TOKEN', `No token has id ${String(args[0])}`)
    if (ctx.out.json) ctx.out.document(status)
    else printTokenStatus(ctx.out, status)
    return 0
  })
}
