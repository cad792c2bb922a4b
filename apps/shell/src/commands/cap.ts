import type { CapabilityInfo, Grant } from '@os2/kernel'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import type { Output } from '../output.ts'
import { clip } from '../output.ts'
import { withKernel } from '../with-kernel.ts'
import { printResponse, throwIfRejected } from './submit.ts'

function rateLimit (info: CapabilityInfo): string {
  const r = info.limits.rateLimit
  return r === undefined ? 'unlimited' : `${r.capacity} (+${r.refillPerTick}/tick)`
}

function scopeText (grant: Grant): string {
  const parts: string[] = []
  if (grant.scope.namespaces !== undefined) parts.push(`namespaces ${grant.scope.namespaces.join(',')}`)
  if (grant.scope.hosts !== undefined) parts.push(`hosts ${grant.scope.hosts.join(',')}`)
  if (grant.scope.pathPrefix !== undefined) parts.push(`path ${grant.scope.pathPrefix}`)
  return parts.length === 0 ? '(any)' : parts.join('; ')
}

function printGrants (out: Output, grants: Grant[]): void {
  out.table(['grant', 'principal', 'capability', 'scope', 'valid ticks', 'version', 'revoked'], grants.map(g => [
    g.id, g.principal, g.capability, scopeText(g), `${g.validFrom}..${g.validUntil ?? '∞'}`, g.version, g.revoked ? 'yes' : 'no'
  ]))
}

/** `os2 cap-list`. */
export async function capListCommand (ctx: CommandContext): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const caps = [...kernel.capabilities()].sort((a, b) => a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
    if (ctx.out.json) {
      ctx.out.document({ capabilities: caps })
    } else {
      ctx.out.table(['capability', 'version', 'ceiling', 'cost', 'rate limit', 'invocations', 'tokens charged', 'description'], caps.map(c => [
        c.id, c.version, c.limits.ceiling, c.limits.cost, rateLimit(c), c.usage.invocations, c.usage.tokensCharged, clip(c.description, 50)
      ]))
    }
    return 0
  })
}

/** `os2 cap-show <id>`: the descriptor, its argument JSON Schema and its grants. */
export async function capShowCommand (ctx: CommandContext, args: string[]): Promise<ExitCode> {
  const id = String(args[0])
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const info = kernel.capabilities().find(c => c.id === id)
    if (info === undefined) throw new ShellError('UNKNOWN_CAPABILITY', `No capability descriptor has id ${id}`)
    const grants = kernel.grants().filter(g => g.capability === id)
    if (ctx.out.json) {
      ctx.out.document({ capability: info, grants })
    } else {
      ctx.out.fields([
        ['capability', info.id],
        ['version', info.version],
        ['description', info.description],
        ['ceiling', info.limits.ceiling],
        ['cost', info.limits.cost],
        ['rate limit', rateLimit(info)],
        ['invocations', info.usage.invocations],
        ['tokens charged', info.usage.tokensCharged]
      ])
      ctx.out.line('arguments (JSON Schema):')
      ctx.out.line(JSON.stringify(info.argsSchema, null, 2))
      if (grants.length > 0) printGrants(ctx.out, grants)
      else ctx.out.line('no grants')
    }
    return 0
  })
}

/** `os2 cap-grant --principal P --capability C [scope] [window]`. */
export async function capGrantCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel, genesis }) => {
    const scope: Record<string, unknown> = {}
    if (Array.isArray(opts.namespaces)) scope.namespaces = opts.namespaces
    if (Array.isArray(opts.hosts)) scope.hosts = opts.hosts
    if (typeof opts.pathPrefix === 'string') scope.pathPrefix = opts.pathPrefix
    const grant: Record<string, unknown> = { principal: opts.principal, capability: opts.capability, scope }
    if (typeof opts.validFrom === 'number') grant.validFrom = opts.validFrom
    if (typeof opts.validUntil === 'number') grant.validUntil = opts.validUntil
    const request = ctx.backend.validateRequest({ type: 'GrantCapability', from: genesis.operator, grant }, genesis)
    const response = await kernel.handle(request)
    if (ctx.out.json) ctx.out.document({ response })
    else printResponse(ctx.out, response)
    throwIfRejected(response)
    return 0
  })
}

/** `os2 cap-revoke <grantId>`. */
export async function capRevokeCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel, genesis }) => {
    const raw: Record<string, unknown> = { type: 'RevokeCapability', from: genesis.operator, grantId: args[0] }
    if (typeof opts.reason === 'string') raw.reason = opts.reason
    const response = await kernel.handle(ctx.backend.validateRequest(raw, genesis))
    if (ctx.out.json) ctx.out.document({ response })
    else printResponse(ctx.out, response)
    throwIfRejected(response)
    return 0
  })
}

/** `os2 grant-list`. */
export async function grantListCommand (ctx: CommandContext): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const grants = kernel.grants()
    if (ctx.out.json) ctx.out.document({ grants })
    else printGrants(ctx.out, grants)
    return 0
  })
}
