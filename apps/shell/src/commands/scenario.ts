import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { parseJson, readInput } from '../read-json.ts'
import { parseScenario, runScenario } from '../scenario.ts'
import type { ScenarioReport } from '../scenario.ts'
import { withKernel } from '../with-kernel.ts'

/** `os2 scenario-run <file> [--fresh]`: runs the steps, checks expectations, prints the ledger head. */
export async function scenarioRunCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const file = String(args[0])
  const scenario = parseScenario(parseJson(await readInput(ctx.io, file), `scenario ${file}`))
  if (opts.fresh === true && !(await ctx.backend.isInitialised(ctx.dataDir))) {
    await ctx.backend.init(ctx.dataDir, { seed: scenario.seed ?? '0' })
  }
  const report: ScenarioReport = await withKernel(ctx, async ({ kernel, genesis }) => {
    if (scenario.seed !== undefined && scenario.seed !== genesis.seed) {
      throw new ShellError('SCENARIO_SEED_MISMATCH', `Scenario seed ${scenario.seed} differs from the data dir genesis seed ${genesis.seed}`)
    }
    const progress = await ctx.progress('scenario', scenario.steps.length)
    try {
      return await runScenario(kernel, scenario, (done) => progress.update(done))
    } finally {
      progress.stop()
    }
  })
  if (ctx.out.json) {
    ctx.out.document({ scenario: file, ...report })
  } else {
    ctx.out.table(['step', 'request', 'disposition', 'seq', 'error', 'token', 'check'], report.steps.map(s => [
      s.step,
      s.name !== null ? `${s.type} (${s.name})` : s.type,
      s.disposition,
      s.ledgerSeq,
      s.errorCode ?? '',
      s.tokenState ?? '',
      s.ok ? 'ok' : 'MISMATCH'
    ]))
    ctx.out.line(`ledger head ${report.ledger.head} (${report.ledger.size} events)`)
  }
  const failed = report.steps.filter(s => !s.ok)
  if (failed.length > 0) {
    const first = failed[0]!
    throw new ShellError('SCENARIO_EXPECTATION_FAILED', `Step ${first.step}${first.name !== null ? ` (${first.name})` : ''}: ${first.mismatches.join('; ')}${failed.length > 1 ? ` (and ${failed.length - 1} more failing step(s): ${failed.slice(1).map(s => s.step).join(', ')})` : ''}`)
  }
  return 0
}
