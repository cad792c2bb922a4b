import type { CommandContext, ExitCode } from '../command-context.ts'
import { loadShellIdentity, shellKeyPath } from '../attach-backend.ts'

/**
 * `os2 whoami`: the shell's principal (its key's libp2p peer id), the id an
 * operator grants `operator.attach` to. Creates the key (mode 0600) on first use.
 */
export async function whoamiCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const id = await loadShellIdentity(shellKeyPath(ctx.io.cwd, ctx.dataDir, opts.key))
  if (ctx.out.json) {
    ctx.out.document({ principal: id.peerId, publicKey: id.keyPair.publicKey, keyFile: id.keyFile, created: id.created })
  } else {
    ctx.out.line(id.peerId)
    if (id.created) ctx.out.error(`created ${id.keyFile}\n`)
    ctx.out.error(`grant it: os2 cap-grant --capability operator.attach --principal ${id.peerId}\n`)
  }
  return 0
}
