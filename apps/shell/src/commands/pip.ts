import { resolve } from 'node:path'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { printTokenStatus } from '../format.ts'
import { runOperatorToken, tokenError } from './python.ts'

/** `os2 pip install <wheel file | URL | name> [--sha256 H] [--find-links DIR] [--index-url URL]`. */
export async function pipCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const [action, target] = args
  if (action !== 'install') throw new ShellError('USAGE', `Unknown pip action ${JSON.stringify(action ?? '')}: expected install`)
  if (target === undefined) throw new ShellError('USAGE', 'Missing wheel file, URL or project name')
  const isPath = target.includes('/') || target.endsWith('.whl')
  const source = /^https?:\/\//i.test(target) || !isPath ? target : resolve(ctx.io.cwd, target)
  const pipArgs: Record<string, unknown> = { source }
  if (typeof opts.sha256 === 'string') pipArgs.sha256 = opts.sha256.toLowerCase()
  if (typeof opts.findLinks === 'string') pipArgs.findLinks = resolve(ctx.io.cwd, opts.findLinks)
  if (typeof opts.indexUrl === 'string') pipArgs.index = opts.indexUrl
  const opened = await ctx.backend.open(ctx.dataDir)
  try {
    const status = await runOperatorToken(opened, { capability: 'pip.install', args: pipArgs })
    if (ctx.out.json) ctx.out.document({ token: status, ledger: { size: opened.kernel.ledger.size, head: opened.kernel.ledger.head } })
    if (status.state !== 'completed') throw tokenError(status)
    if (!ctx.out.json) {
      const r = status.result as Record<string, unknown>
      ctx.out.line(`installed ${String(r.name)} ${String(r.version)} sha256 ${String(r.sha256)}`)
      printTokenStatus(ctx.out, status)
    }
    return 0
  } finally {
    await opened.kernel.close()
  }
}
