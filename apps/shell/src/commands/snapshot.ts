import type { Kernel, SnapshotSummary } from '@os2/kernel'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { inline } from '../format.ts'
import type { Output } from '../output.ts'
import { shortHash } from '../output.ts'
import { isRecord } from '../read-json.ts'
import { withKernel } from '../with-kernel.ts'
import { throwIfRejected } from './submit.ts'

/** Resolves a snapshot id or a unique prefix of one. */
export async function resolveSnapshotId (kernel: Kernel, idOrPrefix: string): Promise<string> {
  const all = await kernel.snapshots.list()
  if (all.some(s => s.id === idOrPrefix)) return idOrPrefix
  const matches = all.filter(s => s.id.startsWith(idOrPrefix))
  if (matches.length === 1) return matches[0]!.id
  if (matches.length > 1) throw new ShellError('USAGE', `Snapshot id prefix ${idOrPrefix} is ambiguous: ${matches.map(s => s.id).join(', ')}`)
  throw new ShellError('UNKNOWN_SNAPSHOT', `No snapshot has id ${idOrPrefix}`)
}

function summaryFields (s: SnapshotSummary): Array<[string, string | number]> {
  return [
    ['snapshot', s.id],
    ['label', s.label],
    ['tick', s.timestamp],
    ['ledger seq', s.ledgerSeq],
    ['ledger head', s.ledgerHead],
    ['state hash', s.stateHash],
    ['ready', s.ready ? 'yes' : 'no']
  ]
}

function printSummaries (out: Output, list: SnapshotSummary[]): void {
  out.table(['snapshot', 'label', 'tick', 'ledger seq', 'ledger head', 'state hash', 'ready'], list.map(s => [
    s.id, s.label, s.timestamp, s.ledgerSeq, shortHash(s.ledgerHead), shortHash(s.stateHash), s.ready ? 'yes' : 'no'
  ]))
}

function looksLikeSummary (value: unknown): value is SnapshotSummary {
  return isRecord(value) && typeof value.id === 'string' && typeof value.stateHash === 'string'
}

/** `os2 snapshot-create --label L`: goes through the protocol (`CreateSnapshot`), so the ledger records it. */
export async function snapshotCreateCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel, genesis }) => {
    const raw: Record<string, unknown> = { type: 'CreateSnapshot', from: genesis.operator }
    if (typeof opts.label === 'string' && opts.label !== '') raw.label = opts.label
    const response = await kernel.handle(ctx.backend.validateRequest(raw, genesis))
    throwIfRejected(response)
    let summary: SnapshotSummary | undefined
    if (looksLikeSummary(response.result)) summary = response.result
    else if (isRecord(response.result) && looksLikeSummary(response.result.snapshot)) summary = response.result.snapshot
    else summary = (await kernel.snapshots.list()).at(-1)
    if (summary === undefined) throw new ShellError('INTERNAL', 'The kernel accepted the snapshot but lists none')
    if (ctx.out.json) ctx.out.document({ snapshot: summary, response })
    else ctx.out.fields(summaryFields(summary))
    return 0
  })
}

/** `os2 snapshot-list`. */
export async function snapshotListCommand (ctx: CommandContext): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const list = await kernel.snapshots.list()
    if (ctx.out.json) ctx.out.document({ snapshots: list })
    else printSummaries(ctx.out, list)
    return 0
  })
}

/** `os2 snapshot-show <id>`. */
export async function snapshotShowCommand (ctx: CommandContext, args: string[]): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const shown = await kernel.snapshots.show(await resolveSnapshotId(kernel, String(args[0])))
    if (ctx.out.json) {
      ctx.out.document(shown)
    } else {
      ctx.out.fields(summaryFields(shown))
      ctx.out.line('state:')
      ctx.out.line(JSON.stringify(shown.state, null, 2))
    }
    return 0
  })
}

/** `os2 snapshot-diff <a> <b>`. */
export async function snapshotDiffCommand (ctx: CommandContext, args: string[]): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const a = await resolveSnapshotId(kernel, String(args[0]))
    const b = await resolveSnapshotId(kernel, String(args[1]))
    const diff = await kernel.snapshots.diff(a, b)
    if (ctx.out.json) {
      ctx.out.document(diff)
    } else {
      ctx.out.line(`diff ${diff.from} -> ${diff.to}: ${diff.changes.length} change(s)`)
      if (diff.changes.length > 0) {
        ctx.out.table(['path', 'change', 'before', 'after'], diff.changes.map(c => [
          c.path,
          c.before === undefined ? 'added' : c.after === undefined ? 'removed' : 'changed',
          inline(c.before, 40),
          inline(c.after, 40)
        ]))
      }
    }
    return 0
  })
}

/** `os2 snapshot-replay <id>`: exit 1 naming the first divergent sequence number. */
export async function snapshotReplayCommand (ctx: CommandContext, args: string[]): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const id = await resolveSnapshotId(kernel, String(args[0]))
    const progress = await ctx.progress('replaying', kernel.ledger.size)
    let report
    try {
      report = await kernel.snapshots.replay(id)
      progress.update(kernel.ledger.size)
    } finally {
      progress.stop()
    }
    if (ctx.out.json) ctx.out.document(report)
    if (report.ok) {
      if (!ctx.out.json) ctx.out.line(`replay ok: ${report.eventsReplayed} events replayed from ${report.snapshotId}, every hash matches, head ${report.head}`)
      return 0
    }
    if (!ctx.out.json) ctx.out.line(`replay diverged at seq ${report.firstDivergentSeq}: expected ${report.expected}, got ${report.actual}`)
    throw new ShellError('REPLAY_DIVERGED', `Replay of ${report.snapshotId} diverged at sequence number ${report.firstDivergentSeq}`, { details: { firstDivergentSeq: report.firstDivergentSeq } })
  })
}

/** `os2 snapshot-auth <id>`: prints the signed token (alone on a line without --json, so `$(…)` captures it). */
export async function snapshotAuthCommand (ctx: CommandContext, args: string[]): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel, publicKey }) => {
    const id = await resolveSnapshotId(kernel, String(args[0]))
    const token = await kernel.snapshots.auth(id)
    if (ctx.out.json) ctx.out.document({ snapshotId: id, publicKey, token })
    else ctx.out.line(token)
    return 0
  })
}

/** `os2 snapshot-verify <token> [--public-key K]`: offline, only the public key is needed. */
export async function snapshotVerifyCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const token = String(args[0]) === '-' ? (await ctx.io.readStdin()).trim() : String(args[0]).trim()
  const publicKey = typeof opts.publicKey === 'string' ? opts.publicKey : await ctx.backend.readPublicKey(ctx.dataDir)
  const claims = await ctx.backend.verifySnapshotAuth(token, publicKey)
  if (ctx.out.json) {
    ctx.out.document({ valid: true, publicKey, claims })
  } else {
    ctx.out.line('token valid')
    ctx.out.fields(Object.keys(claims).sort().map(k => [k, typeof claims[k] === 'string' ? claims[k] : JSON.stringify(claims[k])]))
  }
  return 0
}

/** `os2 kernel-ready-flag --set <id>` (or, without --set, list the flags). */
export async function readyFlagCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    if (typeof opts.set === 'string') {
      const id = await resolveSnapshotId(kernel, opts.set)
      await kernel.snapshots.setReady(id)
      if (ctx.out.json) ctx.out.document({ snapshotId: id, ready: true })
      else ctx.out.line(`snapshot ${id} flagged ready`)
      return 0
    }
    const list = await kernel.snapshots.list()
    if (ctx.out.json) ctx.out.document({ ready: list.filter(s => s.ready).map(s => s.id) })
    else printSummaries(ctx.out, list.filter(s => s.ready))
    return 0
  })
}
