import { randomBytes } from 'node:crypto'
import { connect } from 'node:net'
import { join } from 'node:path'
import type { TokenStatus } from '@os2/kernel'
import type { OpenedDataDir } from '../backend.ts'
import type { CommandContext, ExitCode } from '../command-context.ts'
import { ShellError } from '../errors.ts'
import { clip } from '../output.ts'
import { withKernel } from '../with-kernel.ts'
import { ensureOperatorGrant, tokenError } from './python.ts'
import { throwIfRejected } from './submit.ts'

/** Memory reads the operator is granted on first use (all namespaces); writes always need an explicit grant. */
export const MEMORY_READS: ReadonlySet<string> = new Set(['memory.kv.get', 'memory.episodic.list', 'memory.vector.search', 'memory.log', 'memory.show'])

/** One memory capability invocation, as the CLI and the serve control channel carry it. */
export interface MemoryRequest {
  capability: string
  args: Record<string, unknown>
  /** Principal the token acts for (default: the operator). */
  principal?: string
}

/** The control socket of a data dir served by `os2 federation serve`. */
export function controlSocketPath (dataDir: string): string {
  return join(dataDir, 'federation', 'control.sock')
}

/**
 * Runs one memory capability as a token in an opened data dir: submits it
 * (the operator gets read grants on first use), runs the scheduler and
 * returns the token's final status.
 */
export async function runMemoryToken (opened: OpenedDataDir, req: MemoryRequest): Promise<TokenStatus> {
  const { kernel, genesis } = opened
  const principal = req.principal ?? genesis.operator
  if (principal === genesis.operator && MEMORY_READS.has(req.capability)) await ensureOperatorGrant(kernel, genesis, req.capability)
  const id = `mem-${kernel.ledger.size}-${randomBytes(4).toString('hex')}`
  throwIfRejected(await kernel.handle({ type: 'SubmitToken', from: genesis.operator, token: { id, capability: req.capability, principal, args: req.args } }))
  await kernel.runUntilIdle()
  await opened.federation?.flush()
  const status = kernel.token(id)
  if (status === undefined) throw new ShellError('INTERNAL', `Token ${id} vanished`)
  return status
}

/**
 * Sends one request to the serve process of `dataDir`; `undefined` when no
 * serve process is listening (no socket, or a stale one).
 */
export async function askServer (dataDir: string, request: Record<string, unknown>): Promise<unknown> {
  return await new Promise((resolve, reject) => {
    const socket = connect(controlSocketPath(dataDir))
    let buffer = ''
    let connected = false
    socket.setEncoding('utf8')
    socket.on('connect', () => {
      connected = true
      socket.write(JSON.stringify(request) + '\n')
    })
    socket.on('data', (chunk: string) => {
      buffer += chunk
      const nl = buffer.indexOf('\n')
      if (nl < 0) return
      socket.end()
      const reply = JSON.parse(buffer.slice(0, nl)) as { ok: boolean, result?: unknown, error?: { code: string, message: string } }
      if (reply.ok) resolve(reply.result)
      else reject(new ShellError(reply.error?.code ?? 'INTERNAL', reply.error?.message ?? 'The serve process failed'))
    })
    socket.on('error', (err: NodeJS.ErrnoException) => {
      if (!connected && (err.code === 'ENOENT' || err.code === 'ECONNREFUSED')) resolve(undefined)
      else reject(new ShellError('FEDERATION_UNAVAILABLE', `Cannot reach the serve process of ${dataDir}: ${err.message}`))
    })
    socket.on('close', () => {
      if (connected && buffer.indexOf('\n') < 0) reject(new ShellError('FEDERATION_UNAVAILABLE', `The serve process of ${dataDir} closed the connection`))
    })
  })
}

/** Runs a memory token through the serve process when one holds the data dir, else on the data dir directly. */
async function invoke (ctx: CommandContext, req: MemoryRequest): Promise<TokenStatus> {
  const served = await askServer(ctx.dataDir, { op: 'token', ...req })
  const status = (served ?? await withKernel(ctx, async opened => await runMemoryToken(opened, req))) as TokenStatus
  if (status.state !== 'completed') throw tokenError(status)
  return status
}

function parseJson (text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    throw new ShellError('USAGE', `Cannot parse ${what} ${JSON.stringify(clip(text, 40))}: not JSON`)
  }
}

/** A value argument: JSON when it parses, the text itself otherwise. */
function valueOf (text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return text
  }
}

function need (parts: Array<string | undefined>, n: number, usage: string): string[] {
  const present = parts.filter((p): p is string => p !== undefined)
  if (present.length < n) throw new ShellError('USAGE', `Missing arguments: os2 memory ${usage}`)
  return present
}

function count (value: unknown, fallback: number): number {
  return typeof value === 'number' ? value : fallback
}

/**
 * `os2 memory <kind> <action> …`, `os2 memory log <kind> <namespace>`,
 * `os2 memory show <kind> <namespace> [--at <commit>]`: one memory capability
 * as one token (see docs/cli.md#memory).
 */
export async function memoryCommand (ctx: CommandContext, args: string[], opts: Record<string, unknown>): Promise<ExitCode> {
  const [group, action, ...rest] = args
  const principal = typeof opts.principal === 'string' ? { principal: opts.principal } : {}
  const out = ctx.out
  const run = async (capability: string, a: Record<string, unknown>): Promise<Record<string, unknown>> =>
    (await invoke(ctx, { capability, args: a, ...principal })).result as Record<string, unknown>
  const printWrite = (r: Record<string, unknown>): ExitCode => {
    if (out.json) out.document(r)
    else out.fields([['memory', String(r.memory)], ['commit', String(r.commit ?? '(no change)')], ['seq', String(r.seq ?? '-')], ['bytes', Number(r.bytes)]])
    return 0
  }
  const key = `${group ?? ''} ${action ?? ''}`.trim()
  switch (key) {
    case 'kv get': {
      const [ns, k] = need(rest, 1, 'kv get <namespace> [key]')
      const r = await run('memory.kv.get', k === undefined ? { namespace: ns } : { namespace: ns, key: k })
      if (out.json) { out.document(r); return 0 }
      if (k === undefined) { for (const name of r.keys as string[]) out.line(name); return 0 }
      if (r.found !== true) throw new ShellError('KEY_NOT_FOUND', `No key ${k} in kv:${ns}`)
      out.line(JSON.stringify(r.value))
      return 0
    }
    case 'kv put': {
      const [ns, k, v] = need(rest, 3, 'kv put <namespace> <key> <value>')
      return printWrite(await run('memory.kv.write', { namespace: ns, set: { [k as string]: valueOf(v as string) } }))
    }
    case 'kv delete': {
      const [ns, k] = need(rest, 2, 'kv delete <namespace> <key>')
      return printWrite(await run('memory.kv.write', { namespace: ns, delete: [k] }))
    }
    case 'episodic append': {
      const [ns, ...events] = need(rest, 2, 'episodic append <namespace> <event>...')
      return printWrite(await run('memory.episodic.write', { namespace: ns, events: events.map(valueOf) }))
    }
    case 'episodic list': {
      const [ns] = need(rest, 1, 'episodic list <namespace>')
      const r = await run('memory.episodic.list', { namespace: ns, from: count(opts.from, 0), limit: count(opts.limit, 1000) })
      if (out.json) out.document(r)
      else for (const e of r.events as unknown[]) out.line(JSON.stringify(e))
      return 0
    }
    case 'vector upsert': {
      const [ns, id, vector] = need(rest, 3, 'vector upsert <namespace> <id> <vector-json> [--metadata <json>]')
      const entry: Record<string, unknown> = { id, vector: parseJson(vector as string, 'vector') }
      if (typeof opts.metadata === 'string') entry.metadata = parseJson(opts.metadata, 'metadata')
      return printWrite(await run('memory.vector.write', { namespace: ns, upsert: [entry] }))
    }
    case 'vector search': {
      const [ns, query] = need(rest, 2, 'vector search <namespace> <vector-json> [--k <n>]')
      const r = await run('memory.vector.search', { namespace: ns, query: parseJson(query as string, 'query vector'), k: count(opts.k, 5) })
      const hits = r.hits as Array<{ id: string, score: number, metadata: unknown }>
      if (out.json) out.document(r)
      else out.table(['id', 'score', 'metadata'], hits.map(h => [h.id, h.score.toFixed(6), clip(JSON.stringify(h.metadata), 60)]))
      return 0
    }
  }
  if (group === 'log' || group === 'show') {
    const [kind, ns] = need([action, ...rest], 2, `${group} <kind> <namespace>`)
    if (group === 'log') {
      const r = await run('memory.log', { kind, namespace: ns, limit: count(opts.limit, 1000) })
      if (out.json) { out.document(r); return 0 }
      const commits = r.commits as Array<{ id: string, parents: string[], author: string, tick: number }>
      out.table(['commit', 'parent', 'author', 'tick'], commits.map(c => [c.id, c.parents[0]?.slice(0, 12) ?? '-', clip(c.author, 20), c.tick]))
      return 0
    }
    const r = await run('memory.show', { kind, namespace: ns, ...(typeof opts.at === 'string' ? { at: opts.at } : {}) })
    out.document(out.json ? r : r.state)
    return 0
  }
  throw new ShellError('USAGE', `Unknown memory command ${JSON.stringify(key)}: expected kv get|put|delete, episodic append|list, vector upsert|search, log, show`)
}
