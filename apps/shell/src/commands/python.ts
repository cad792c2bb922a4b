import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { Genesis, GrantScope, Kernel, TokenStatus } from '@os2/kernel'
import type { OpenedDataDir } from '../backend.ts'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { throwIfRejected } from './submit.ts'

/**
 * Grants the embedded operator gets on first use of each Python capability,
 * recorded as ordinary GrantCapability requests. Network is off until an
 * operator grants hosts explicitly (`os2 cap-grant --capability python.exec
 * --hosts …` before the first run).
 */
export const OPERATOR_GRANTS: Record<string, GrantScope> = {
  'python.exec': { namespaces: ['*'], hosts: [] },
  'pip.install': { namespaces: ['os2.pip'], hosts: [] },
  'module.mount': { namespaces: ['os2.modules'] }
}

const MiB = 2 ** 20

/** Grants `capability` to the operator unless the operator already holds a live grant for it. */
export async function ensureOperatorGrant (kernel: Kernel, genesis: Genesis, capability: string): Promise<void> {
  const operator = genesis.operator
  if (kernel.grants().some(g => g.principal === operator && g.capability === capability && !g.revoked)) return
  const scope = OPERATOR_GRANTS[capability] ?? {}
  throwIfRejected(await kernel.handle({ type: 'GrantCapability', from: operator, grant: { principal: operator, capability, scope } }))
}

/** A failed token's error as the shell reports it: `HANDLER_FAILED` messages of the form `CODE: text` keep their inner code. */
export function tokenError (status: TokenStatus): ShellError {
  const error = status.error ?? { code: 'TOKEN_NOT_COMPLETED', message: `Token ${status.token.id} ended ${status.state}` }
  const inner = error.code === 'HANDLER_FAILED' ? /^([A-Z][A-Z0-9_]+): ([\s\S]*)$/.exec(error.message) : null
  if (inner?.[1] !== undefined && inner[2] !== undefined) return new ShellError(inner[1], inner[2], { details: { tokenId: status.token.id } })
  return new ShellError(error.code, error.message, { details: { tokenId: status.token.id } })
}

export interface TokenSpec {
  capability: string
  args: Record<string, unknown>
  budget?: Record<string, number>
  tag?: string
}

/** Submits one token as the operator (deterministic id from the ledger size), runs the scheduler, returns its status. */
export async function runOperatorToken (opened: OpenedDataDir, spec: TokenSpec): Promise<TokenStatus> {
  const { kernel, genesis } = opened
  await ensureOperatorGrant(kernel, genesis, spec.capability)
  const id = `${spec.capability.split('.')[0] ?? 'tok'}-${kernel.ledger.size}`
  const token: Record<string, unknown> = { id, capability: spec.capability, principal: genesis.operator, args: spec.args, budget: spec.budget ?? {} }
  if (spec.tag !== undefined) token.tag = spec.tag
  throwIfRejected(await kernel.handle({ type: 'SubmitToken', from: genesis.operator, token }))
  await kernel.runUntilIdle()
  const status = kernel.token(id)
  if (status === undefined) throw new ShellError('INTERNAL', `Token ${id} vanished`)
  return status
}

/**
 * Runs Python code as one `python.exec` token: output streams live (or is
 * collected into the JSON document with `--json`); exit 0 when the token
 * completed, else `error <CODE>: …` and exit 1.
 */
export async function runPythonCode (ctx: CommandContext, opts: Record<string, unknown>, code: string, argv: string[], mapError?: (err: ShellError) => ShellError): Promise<ExitCode> {
  const opened = await ctx.backend.open(ctx.dataDir)
  const collected = { stdout: '', stderr: '' }
  try {
    opened.python?.setOutputSink((stream, text) => {
      if (ctx.out.json) collected[stream] += text
      else if (stream === 'stdout') ctx.out.write(text)
      else ctx.out.error(text)
    })
    const budget: Record<string, number> = {
      tokens: typeof opts.tokenBudget === 'number' ? opts.tokenBudget : 10_000_000,
      network: 64 * MiB,
      memory: 64 * MiB,
      wallClockMs: typeof opts.wallMs === 'number' ? opts.wallMs : 60_000
    }
    // Limits travel in the token's arguments: replay derives its events from the ledger alone.
    const args: Record<string, unknown> = { code, argv }
    if (typeof opts.memoryLimitMb === 'number') args.memoryLimitBytes = opts.memoryLimitMb * MiB
    if (typeof opts.wallMs === 'number') args.wallClockMs = opts.wallMs
    const status = await runOperatorToken(opened, {
      capability: 'python.exec',
      args,
      budget,
      ...(typeof opts.tag === 'string' ? { tag: opts.tag } : {})
    })
    if (ctx.out.json) {
      ctx.out.document({ token: status, stdout: collected.stdout, stderr: collected.stderr, ledger: { size: opened.kernel.ledger.size, head: opened.kernel.ledger.head } })
    }
    if (status.state !== 'completed') {
      const err = tokenError(status)
      throw mapError !== undefined ? mapError(err) : err
    }
    return 0
  } finally {
    opened.python?.setOutputSink(undefined)
    await opened.kernel.close()
  }
}

/** `os2 python [--token-budget N] [--tag T] script.py [args...]`. */
export async function pythonCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const [script, ...argv] = args
  if (script === undefined) throw new ShellError('USAGE', 'Missing script')
  let code: string
  try {
    code = script === '-' ? await ctx.io.readStdin() : await readFile(resolve(ctx.io.cwd, script), 'utf8')
  } catch (err) {
    throw new ShellError('SCRIPT_NOT_FOUND', `Cannot read script ${script}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
  return await runPythonCode(ctx, opts, code, argv)
}

/** `os2 pyx '<expr>'`: evaluates one expression and prints its repr (nothing for None). */
export async function pyxCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const expr = args[0]
  if (expr === undefined) throw new ShellError('USAGE', 'Missing expression')
  return await runPythonCode(ctx, opts, pyxSource(expr), [])
}

/** The script `pyx` runs for an expression. */
export function pyxSource (expr: string): string {
  return `_os2_r = eval(compile(${JSON.stringify(expr)}, '<expr>', 'eval'))\nif _os2_r is not None:\n    print(repr(_os2_r))\n`
}

/** `os2 pyvm run <module> [args...]`: runs an importable module as `python -m` would. */
export async function pyvmCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const [action, module, ...argv] = args
  if (action !== 'run') throw new ShellError('USAGE', `Unknown pyvm action ${JSON.stringify(action ?? '')}: expected run`)
  if (module === undefined || !/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(module)) throw new ShellError('USAGE', `Invalid module name ${JSON.stringify(module ?? '')}`)
  const code = `import runpy, sys\nsys.argv[0] = ${JSON.stringify(module)}\nrunpy.run_module(${JSON.stringify(module)}, run_name='__main__', alter_sys=True)\n`
  return await runPythonCode(ctx, opts, code, argv, (err) => {
    if (/No module named/.test(err.message)) return new ShellError('UNKNOWN_MODULE', `No Python module named ${module}: install its wheel with os2 pip install`, { details: err.details ?? {} })
    return err
  })
}
