import type { EventEnvelope, ReplayReport } from '@os2/kernel'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { inline } from '../format.ts'
import type { Output } from '../output.ts'
import { shortHash } from '../output.ts'
import { withKernel } from '../with-kernel.ts'

function eventRow (e: EventEnvelope): Array<string | number> {
  return [e.seq, e.tick, e.type, e.capability_id ?? '', e.token_id ?? '', inline(e.payload, 50), shortHash(e.hash)]
}

const EVENT_HEAD = ['seq', 'tick', 'type', 'capability', 'token', 'payload', 'hash']

function printEventLine (out: Output, e: EventEnvelope): void {
  if (out.json) out.jsonLine(e)
  else out.line(`#${e.seq} tick ${e.tick} ${e.type}${e.capability_id !== null ? ' ' + e.capability_id : ''}${e.token_id !== null ? ' token ' + e.token_id : ''} ${inline(e.payload, 80)} ${shortHash(e.hash)}`)
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    const timer = setTimeout(done, ms)
    function done (): void {
      clearTimeout(timer)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
  })
}

/**
 * `os2 ledger-inspect [--since HASH] [--from SEQ] [--limit N] [--json|--table] [--follow]`.
 * Reads the ledger files without opening (or repairing) the kernel. With
 * `--follow` it prints one line (or one JSON object per line with `--json`)
 * per event and keeps polling for new ones until SIGINT.
 */
export async function ledgerInspectCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  let from = typeof opts.from === 'number' ? opts.from : 0
  const reader = await ctx.backend.openLedgerReader(ctx.dataDir)
  let events = await reader.read()
  if (typeof opts.since === 'string') {
    const since = opts.since.toLowerCase()
    const at = events.find(e => e.hash === since || (since.length >= 8 && e.hash.startsWith(since)))
    if (at === undefined) throw new ShellError('UNKNOWN_EVENT', `No ledger event has hash ${opts.since}`)
    from = Math.max(from, at.seq + 1)
  }
  const size = events.length
  const head = events[size - 1]?.hash ?? '0'.repeat(64)
  events = events.filter(e => e.seq >= from)
  if (typeof opts.limit === 'number') events = events.slice(0, opts.limit)

  if (opts.follow === true) {
    for (const e of events) printEventLine(ctx.out, e)
    let next = events.length > 0 ? events[events.length - 1]!.seq + 1 : Math.max(from, size)
    const interval = typeof opts.intervalMs === 'number' ? Math.max(opts.intervalMs, 10) : 200
    while (!ctx.io.signal.aborted) {
      await sleep(interval, ctx.io.signal)
      if (ctx.io.signal.aborted) break
      for (const e of await reader.read()) {
        if (e.seq < next) continue
        printEventLine(ctx.out, e)
        next = e.seq + 1
      }
    }
    return 0
  }

  if (ctx.out.json) {
    ctx.out.document({ size, head, events })
  } else {
    ctx.out.table(EVENT_HEAD, events.map(eventRow))
    ctx.out.line(`${events.length} of ${size} events, head ${head}`)
  }
  return 0
}

/**
 * `os2 ledger-verify [--replay]`: exit 1 naming the first bad sequence number;
 * never repairs anything. `--replay` also re-executes the ledger from genesis
 * and names the first event whose hash the kernel does not reproduce.
 */
export async function ledgerVerifyCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const progress = await ctx.progress('verifying', opts.replay === true ? 2 : 1)
  let result
  let replay: ReplayReport | undefined
  try {
    result = await ctx.backend.verifyLedger(ctx.dataDir)
    progress.update(1)
    if (result.ok && opts.replay === true) replay = await ctx.backend.replayLedger(ctx.dataDir)
    progress.update(2)
  } finally {
    progress.stop()
  }
  if (ctx.out.json) ctx.out.document(replay === undefined ? result : { ...result, replay })
  if (result.ok) {
    if (!ctx.out.json) ctx.out.line(`ledger ok: ${result.size} events, head ${result.head}`)
    if (replay !== undefined && replay.ok) {
      if (!ctx.out.json) ctx.out.line(`replay ok: ${replay.eventsReplayed} events re-executed from genesis, every hash matches`)
    } else if (replay !== undefined && !replay.ok) {
      if (!ctx.out.json) ctx.out.line(`replay diverged at seq ${replay.firstDivergentSeq}: expected ${replay.expected}, got ${replay.actual}`)
      throw new ShellError('REPLAY_DIVERGED', `First bad sequence number ${replay.firstDivergentSeq}: re-executing the ledger from genesis does not reproduce its hash`, { details: { firstBadSeq: replay.firstDivergentSeq } })
    }
    return 0
  }
  if (!ctx.out.json) ctx.out.line(`ledger broken: first bad sequence number ${result.firstBadSeq} (${result.reason}), ${result.size} events before it verify`)
  const code = result.reason === 'unparsable' || result.reason === 'truncated' ? 'LEDGER_CORRUPT' : 'LEDGER_CHAIN_BROKEN'
  throw new ShellError(code, `First bad sequence number ${result.firstBadSeq}: ${result.message}`, { details: { firstBadSeq: result.firstBadSeq } })
}

function checkSize (size: number, ledgerSize: number, what: string): void {
  if (size > ledgerSize) throw new ShellError('MERKLE_RANGE', `Cannot prove against ${what} ${size}: the ledger has ${ledgerSize} events`)
}

/** `os2 ledger-proof <seq> [--size N]`: an inclusion proof, verified against the root of that size. */
export async function ledgerProofCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>, ): Promise<ExitCode> {
  const seq = Number(args[0])
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const size = typeof opts.size === 'number' ? opts.size : kernel.ledger.size
    checkSize(size, kernel.ledger.size, 'size')
    if (seq >= size) throw new ShellError('MERKLE_RANGE', `Cannot prove event ${seq}: the tree of size ${size} holds events 0..${size - 1}`)
    const proof = kernel.ledger.inclusionProof(seq, size)
    const event = kernel.ledger.get(seq)
    const rootMatches = proof.root === kernel.ledger.root(size)
    const verified = rootMatches && event !== undefined && ctx.backend.verifyInclusion(proof, event)
    if (ctx.out.json) {
      ctx.out.document({ seq, eventHash: event?.hash ?? null, proof, verified })
    } else {
      ctx.out.fields([
        ['event', `#${seq} ${event?.type ?? '?'} ${event?.hash ?? ''}`],
        ['leaf hash', proof.leafHash],
        ['tree size', proof.treeSize],
        ['root', proof.root],
        ['path', proof.path.length === 0 ? '(empty)' : proof.path.join('\n')],
        ['verified', verified ? 'yes' : 'NO']
      ])
    }
    if (!verified) throw new ShellError('MERKLE_PROOF_INVALID', `Inclusion proof of event ${seq} in tree size ${size} does not verify`)
    return 0
  })
}

/** `os2 ledger-consistency <old> [new]`: a consistency proof between two tree sizes, verified. */
export async function ledgerConsistencyCommand (ctx: CommandContext, args: string[]): Promise<ExitCode> {
  const oldSize = Number(args[0])
  return await withKernel<ExitCode>(ctx, async ({ kernel }) => {
    const newSize = args[1] !== undefined ? Number(args[1]) : kernel.ledger.size
    checkSize(newSize, kernel.ledger.size, 'size')
    if (oldSize > newSize) throw new ShellError('MERKLE_RANGE', `Cannot prove consistency from ${oldSize} to ${newSize}: old size is larger`)
    const proof = kernel.ledger.consistencyProof(oldSize, newSize)
    const rootsMatch = proof.oldRoot === kernel.ledger.root(oldSize) && proof.newRoot === kernel.ledger.root(newSize)
    const verified = rootsMatch && ctx.backend.verifyConsistency(proof)
    if (ctx.out.json) {
      ctx.out.document({ proof, verified })
    } else {
      ctx.out.fields([
        ['old size', proof.oldSize],
        ['old root', proof.oldRoot],
        ['new size', proof.newSize],
        ['new root', proof.newRoot],
        ['path', proof.path.length === 0 ? '(empty)' : proof.path.join('\n')],
        ['verified', verified ? 'yes' : 'NO']
      ])
    }
    if (!verified) throw new ShellError('MERKLE_PROOF_INVALID', `Consistency proof from ${oldSize} to ${newSize} does not verify`)
    return 0
  })
}
