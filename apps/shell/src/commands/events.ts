import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'

/**
 * `os2 events --nats <url>[,<url>…] --cluster C [--node N]… [--since SEQ] [--follow]`:
 * `StreamEvents` over NATS. Reads each node's events from its JetStream
 * stream from `SEQ`, re-verifies every node's hash chain, and prints one line
 * per event (`--json`: the envelope with its node, one JSON object a line).
 * A node whose stream diverges raises an alert on stderr and the command
 * exits 1. Without `--follow` it stops at the end of each stream; with it, on
 * Ctrl-C. Reference: docs/internals/nats.md.
 */
export async function eventsCommand (ctx: CommandContext, _args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const servers = opts.nats as string[] | undefined
  const cluster = opts.cluster as string | undefined
  if (servers === undefined || servers.length === 0) throw new ShellError('USAGE', 'events needs --nats <url> (a NATS server of the cluster)')
  if (cluster === undefined) throw new ShellError('USAGE', 'events needs --cluster <name>')
  const { connect } = await import('@nats-io/transport-node')
  const { subscribeEvents, listClusterNodes } = await import('@os2/node/nats')
  let nc
  try {
    nc = await connect({ servers, timeout: 5000 })
  } catch (err) {
    throw new ShellError('NATS_UNAVAILABLE', `Cannot reach NATS at ${servers.join(', ')}: ${(err as Error).message}`, { cause: err })
  }
  try {
    const nodes = (opts.node as string[] | undefined) ?? await listClusterNodes(nc, cluster)
    if (nodes.length === 0) {
      ctx.out.error(`no event streams for cluster ${cluster}\n`)
      return 1
    }
    let alerts = 0
    const sub = await subscribeEvents(nc, {
      cluster,
      nodes,
      since: typeof opts.since === 'number' ? opts.since : 0,
      follow: opts.follow === true,
      onEvent: (node, e) => {
        if (ctx.out.json) ctx.out.jsonLine({ node, ...e })
        else ctx.out.line(`${node}  ${String(e.seq).padStart(6)}  ${e.type.padEnd(22)} ${e.hash.slice(0, 16)}${e.token_id !== null ? `  ${e.token_id}` : ''}`)
      },
      onAlert: alert => {
        alerts++
        ctx.out.error(`alert: node ${alert.node} stream diverged at seq ${alert.seq} (${alert.reason}): ${alert.message}\n`)
      }
    }).catch((err: unknown) => {
      throw new ShellError('STREAM_NOT_FOUND', `Cannot read the event streams of ${nodes.join(', ')} in cluster ${cluster}: ${(err as Error).message}`, { cause: err })
    })
    const stop = (): void => { void sub.stop() }
    ctx.io.signal.addEventListener('abort', stop, { once: true })
    await sub.done
    ctx.io.signal.removeEventListener('abort', stop)
    return alerts > 0 ? 1 : 0
  } finally {
    await nc.close()
  }
}
