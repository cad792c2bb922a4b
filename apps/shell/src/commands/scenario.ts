import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { parseJson, readInput } from '../read-json.ts'
import { parseScenario, runScenario } from '../scenario.ts'
import type { Scenario, ScenarioReport } from '../scenario.ts'
import { withKernel } from '../with-kernel.ts'

/**
 * `--fresh` on a data dir that already exists: the scenario may only have been
 * applied already. Replays it in a scratch in-memory kernel on the same genesis;
 * if that yields exactly the data dir's ledger (size and head), the run is a
 * no-op and its report stands; anything else is refused rather than layered on top.
 */
function checkSeed (scenario: Scenario, seed: string): void {
  if (scenario.seed !== undefined && scenario.seed !== seed) {
    throw new ShellError('SCENARIO_SEED_MISMATCH', `Scenario seed ${scenario.seed} differs from the data dir genesis seed ${seed}`)
  }
}

async function alreadyApplied (ctx: CommandContext, scenario: Scenario): Promise<ScenarioReport | undefined> {
  return await withKernel(ctx, async ({ kernel, genesis }) => {
    checkSeed(scenario, genesis.seed)
    if (kernel.ledger.size <= 1) return undefined
    const scratch = await ctx.backend.scratch(genesis)
    try {
      const report = await runScenario(scratch, scenario)
      if (report.ledger.size === kernel.ledger.size && report.ledger.head === kernel.ledger.head) return report
    } finally {
      await scratch.close()
    }
    throw new ShellError('SCENARIO_NOT_FRESH', `Data dir ${ctx.dataDir} already holds ${kernel.ledger.size} events that are not this scenario's result: --fresh needs a new data dir (pass --data-dir, or drop --fresh to run on top of it)`)
  })
}

/** `os2 scenario-run <file> [--fresh]`: runs the steps, checks expectations, prints the ledger head. */
export async function scenarioRunCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const file = String(args[0])
  const scenario = parseScenario(parseJson(await readInput(ctx.io, file), `scenario ${file}`))
  let report: ScenarioReport | undefined
  let applied = false
  if (opts.fresh === true) {
    if (!(await ctx.backend.isInitialised(ctx.dataDir))) {
      await ctx.backend.init(ctx.dataDir, { seed: scenario.seed ?? '0' })
    } else {
      report = await alreadyApplied(ctx, scenario)
      applied = report !== undefined
    }
  }
  report ??= await withKernel(ctx, async ({ kernel, genesis }) => {
    checkSeed(scenario, genesis.seed)
    const progress = await ctx.progress('scenario', scenario.steps.length)
    try {
      return await runScenario(kernel, scenario, (done) => progress.update(done))
    } finally {
      progress.stop()
    }
  })
  if (ctx.out.json) {
    ctx.out.document({ scenario: file, alreadyApplied: applied, ...report })
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
    if (applied) ctx.out.line(`already applied: ${ctx.dataDir} holds exactly this scenario's ledger (checked against a scratch replay)`)
    ctx.out.line(`ledger head ${report.ledger.head} (${report.ledger.size} events)`)
  }
  const failed = report.steps.filter(s => !s.ok)
  if (failed.length > 0) {
    const first = failed[0]!
    throw new ShellError('SCENARIO_EXPECTATION_FAILED', `Step ${first.step}${first.name !== null ? ` (${first.name})` : ''}: ${first.mismatches.join('; ')}${failed.length > 1 ? ` (and ${failed.length - 1} more failing step(s): ${failed.slice(1).map(s => s.step).join(', ')})` : ''}`)
  }
  return 0
}
