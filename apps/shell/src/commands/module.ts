import { resolve } from 'node:path'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { runOperatorToken, tokenError } from './python.ts'

/** `os2 module mount <file.wasm> --as NAME [--sha256 H]`. */
export async function moduleCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const [action, file] = args
  if (action !== 'mount') throw new ShellError('USAGE', `Unknown module action ${JSON.stringify(action ?? '')}: expected mount`)
  if (file === undefined) throw new ShellError('USAGE', 'Missing .wasm file')
  if (typeof opts.as !== 'string') throw new ShellError('USAGE', 'Missing --as NAME')
  const modArgs: Record<string, unknown> = { name: opts.as, source: resolve(ctx.io.cwd, file) }
  if (typeof opts.sha256 === 'string') modArgs.sha256 = opts.sha256.toLowerCase()
  const opened = await ctx.backend.open(ctx.dataDir)
  try {
    const status = await runOperatorToken(opened, { capability: 'module.mount', args: modArgs })
    if (ctx.out.json) ctx.out.document({ token: status, ledger: { size: opened.kernel.ledger.size, head: opened.kernel.ledger.head } })
    if (status.state !== 'completed') throw tokenError(status)
    if (!ctx.out.json) {
      const r = status.result as Record<string, unknown>
      ctx.out.line(`mounted ${String(r.name)} sha256 ${String(r.sha256)} exports ${(r.exports as string[]).join(', ')}`)
    }
    return 0
  } finally {
    await opened.kernel.close()
  }
}
