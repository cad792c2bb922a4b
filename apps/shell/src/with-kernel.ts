import type { OpenedDataDir } from './backend.ts'
import type { CommandContext } from './command-context.ts'

/** Opens the data dir's kernel for the duration of `fn`, closing it afterwards even on error. */
export async function withKernel<T> (ctx: CommandContext, fn: (opened: OpenedDataDir) => Promise<T>): Promise<T> {
  const opened = await ctx.backend.open(ctx.dataDir)
  try {
    return await fn(opened)
  } finally {
    await opened.kernel.close()
  }
}
