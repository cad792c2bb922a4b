import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'

/** `os2 init [--seed N] [--limits file]`: creates the data dir. */
export async function initCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const seed = String(opts.seed ?? '0')
  let limitsToml: string | undefined
  if (typeof opts.limits === 'string') {
    try {
      limitsToml = await readFile(resolve(ctx.io.cwd, opts.limits), 'utf8')
    } catch (err) {
      throw new ShellError('USAGE', `Cannot read limits file ${opts.limits}: ${(err as Error).message}`, { cause: err })
    }
  }
  const result = await ctx.backend.init(ctx.dataDir, limitsToml === undefined ? { seed } : { seed, limitsToml })
  if (ctx.out.json) {
    ctx.out.document({ dataDir: result.dir, seed: result.genesis.seed, operator: result.genesis.operator, publicKey: result.publicKey, genesisHash: result.genesisHash, capabilities: Object.keys(result.genesis.capabilities).sort() })
  } else {
    ctx.out.line(`initialised ${result.dir}`)
    ctx.out.fields([
      ['seed', result.genesis.seed],
      ['operator', result.genesis.operator],
      ['public key', result.publicKey],
      ['genesis hash', result.genesisHash],
      ['capabilities', Object.keys(result.genesis.capabilities).length]
    ])
  }
  return 0
}
