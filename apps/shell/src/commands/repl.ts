import { createInterface } from 'node:readline'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'

/** Splits one REPL line into words: whitespace separates, '…' and "…" group, \ escapes. */
export function splitWords (line: string): string[] {
  const words: string[] = []
  let word = ''
  let inWord = false
  let quote: '"' | "'" | undefined
  for (let i = 0; i < line.length; i++) {
    const ch = line[i] as string
    if (quote !== undefined) {
      if (ch === quote) quote = undefined
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i]
      else word += ch
    } else if (ch === '"' || ch === "'") {
      quote = ch
      inWord = true
    } else if (ch === '\\' && i + 1 < line.length) {
      word += line[++i]
      inWord = true
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
    } else {
      word += ch
      inWord = true
    }
  }
  if (quote !== undefined) throw new ShellError('USAGE', `Unclosed ${quote} quote`)
  if (inWord) words.push(word)
  return words
}

/**
 * `os2 [--attach <multiaddr>] repl`: reads commands line by line from stdin and
 * runs each against the same backend (the attached node, or the embedded
 * kernel), printing its output and, when it fails, its exit code. `exit`,
 * `quit` or end of input stops; the REPL exits 0, or 1 when the last command failed.
 */
export async function replCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const { runCli } = await import('../cli.ts')
  const tty = ctx.io.stdout.isTTY
  const rl = createInterface({ input: process.stdin, ...(tty ? { output: process.stdout, prompt: 'os2> ' } : {}), terminal: tty })
  const globals = ['--data-dir', ctx.dataDir, ...(opts.json === true ? ['--json'] : [])]
  let last = 0
  const prompt = (): void => { if (tty) rl.prompt() }
  prompt()
  try {
    for await (const line of rl) {
      if (ctx.io.signal.aborted) break
      let words: string[]
      try {
        words = splitWords(line)
      } catch (err) {
        ctx.out.error(`error USAGE: ${(err as Error).message}\n`)
        last = 2
        prompt()
        continue
      }
      if (words.length === 0 || words[0]?.startsWith('#') === true) { prompt(); continue }
      if (words[0] === 'exit' || words[0] === 'quit') break
      if (words[0] === 'repl' || words[0] === 'shell') {
        ctx.out.error('error USAGE: already in a REPL\n')
        last = 2
        prompt()
        continue
      }
      last = await runCli([...globals, ...words], ctx.io, async () => ctx.backend)
      if (last !== 0 && !ctx.out.json) ctx.out.error(`(exit ${last})\n`)
      prompt()
    }
  } finally {
    rl.close()
  }
  return last === 0 ? 0 : 1
}
