import { z } from 'zod'
import type { CanonicalValue } from '@os2/crypto'
import { defineCapability } from './types.ts'
import { quickEmitArgs, quickKeyArgs, quickPutArgs } from '../protocol/quick-parse.ts'
import { jsonValue } from '../protocol/json-value.ts'
import type { AnyCapabilityDescriptor, CapabilityContext } from './types.ts'

const Namespace = z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 chars of A-Z a-z 0-9 . _ : @ -')
const Key = z.string().min(1).max(512)
const Json = jsonValue()

const StateGetArgs = z.strictObject({ namespace: Namespace, key: Key })
const StatePutArgs = z.strictObject({ namespace: Namespace, key: Key, value: Json })
const StateDeleteArgs = z.strictObject({ namespace: Namespace, key: Key })
const StateListArgs = z.strictObject({ namespace: Namespace, prefix: z.string().max(512).optional(), limit: z.number().int().positive().max(10_000).optional() })
const EmitArgs = z.strictObject({ name: z.string().min(1).max(128), data: Json.optional() })
const SleepArgs = z.strictObject({ ticks: z.number().int().nonnegative().max(1_000_000_000) })
const SnapshotArgs = z.strictObject({ label: z.string().max(128).optional() })

const ScriptOp = z.discriminatedUnion('op', [
  z.strictObject({ op: z.literal('get'), namespace: Namespace, key: Key }),
  z.strictObject({ op: z.literal('put'), namespace: Namespace, key: Key, value: Json }),
  z.strictObject({ op: z.literal('delete'), namespace: Namespace, key: Key }),
  z.strictObject({ op: z.literal('list'), namespace: Namespace, prefix: z.string().max(512).optional() }),
  z.strictObject({ op: z.literal('emit'), name: z.string().min(1).max(128), data: Json.optional() }),
  z.strictObject({ op: z.literal('sleep'), ticks: z.number().int().nonnegative().max(1_000_000_000) }),
  z.strictObject({ op: z.literal('charge'), kind: z.enum(['tokens', 'memory', 'network', 'wallClockMs']), amount: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER) }),
  z.strictObject({ op: z.literal('fail'), message: z.string().max(256) })
])
const ScriptArgs = z.strictObject({ ops: z.array(ScriptOp).max(10_000) })
type ScriptOp = z.infer<typeof ScriptOp>

export const stateGet = defineCapability({
  id: 'kernel.state.get',
  version: 1,
  description: 'Reads one key of the kernel key/value state in a namespace the grant covers',
  args: StateGetArgs,
  quickArgs: quickKeyArgs,
  scope: args => ({ namespaces: [args.namespace] }),
  handler: (args, ctx) => ({ found: ctx.get(args.namespace, args.key) !== undefined, value: ctx.get(args.namespace, args.key) ?? null })
})

export const statePut = defineCapability({
  id: 'kernel.state.put',
  version: 1,
  description: 'Writes one key of the kernel key/value state; charges the bytes written to the memory budget',
  args: StatePutArgs,
  quickArgs: quickPutArgs,
  scope: args => ({ namespaces: [args.namespace] }),
  handler: (args, ctx) => { ctx.put(args.namespace, args.key, args.value as CanonicalValue); return { ok: true } }
})

export const stateDelete = defineCapability({
  id: 'kernel.state.delete',
  version: 1,
  description: 'Deletes one key of the kernel key/value state',
  args: StateDeleteArgs,
  quickArgs: quickKeyArgs,
  scope: args => ({ namespaces: [args.namespace] }),
  handler: (args, ctx) => ({ existed: ctx.delete(args.namespace, args.key) })
})

export const stateList = defineCapability({
  id: 'kernel.state.list',
  version: 1,
  description: 'Lists keys of a namespace in sorted order, optionally by prefix',
  args: StateListArgs,
  scope: args => ({ namespaces: [args.namespace] }),
  handler: (args, ctx) => ({
    entries: ctx.list(args.namespace, { ...(args.prefix !== undefined ? { prefix: args.prefix } : {}), ...(args.limit !== undefined ? { limit: args.limit } : {}) })
  })
})

export const emit = defineCapability({
  id: 'kernel.emit',
  version: 1,
  description: 'Appends a custom event to the ledger',
  args: EmitArgs,
  quickArgs: quickEmitArgs,
  handler: (args, ctx) => { ctx.emit(args.name, (args.data ?? null) as CanonicalValue); return { ok: true } }
})

export const sleep = defineCapability({
  id: 'kernel.sleep',
  version: 1,
  description: 'Sleeps in virtual time: advances the token and the kernel clock by the given ticks',
  args: SleepArgs,
  handler: (args, ctx) => { ctx.sleep(args.ticks); return { slept: args.ticks, tick: ctx.tick } }
})

export const snapshot = defineCapability({
  id: 'kernel.snapshot',
  version: 1,
  description: 'Takes a snapshot once the token completes (snapshot_created precedes completed)',
  args: SnapshotArgs,
  handler: (args, ctx) => { ctx.snapshot(args.label); return { ok: true } }
})

function runOp (op: ScriptOp, ctx: CapabilityContext): CanonicalValue {
  switch (op.op) {
    case 'get': return ctx.get(op.namespace, op.key) ?? null
    case 'put': ctx.put(op.namespace, op.key, op.value as CanonicalValue); return true
    case 'delete': return ctx.delete(op.namespace, op.key)
    case 'list': return ctx.list(op.namespace, op.prefix !== undefined ? { prefix: op.prefix } : {}).map(e => e.key)
    case 'emit': ctx.emit(op.name, (op.data ?? null) as CanonicalValue); return true
    case 'sleep': ctx.sleep(op.ticks); return ctx.tick
    case 'charge': ctx.charge(op.kind, op.amount); return true
    case 'fail': throw new Error(op.message)
  }
}

export const script = defineCapability({
  id: 'kernel.script',
  version: 1,
  description: 'Runs a list of state, emit, sleep and charge steps in one token; all writes commit or none do',
  args: ScriptArgs,
  scope: args => {
    const namespaces = new Set<string>()
    for (const op of args.ops) if ('namespace' in op) namespaces.add(op.namespace)
    return { namespaces: [...namespaces].sort() }
  },
  handler: (args, ctx) => ({ results: args.ops.map(op => runOp(op, ctx)) })
})

/**
 * Attaching a shell to a node over `/os2/kernel/1.0.0`. It is granted, not
 * invoked: the node checks for a live grant on every frame of an attached
 * session (docs/attach.md). Invoking it only records that the principal
 * checked in.
 */
export const operatorAttach = defineCapability({
  id: 'operator.attach',
  version: 1,
  description: 'Attach a shell to this node over libp2p (checked per request; the token itself does nothing)',
  args: z.strictObject({}),
  scope: () => ({}),
  handler: () => ({ ok: true })
})

/** The capabilities every kernel has before any sandbox exists. */
export const BUILTIN_CAPABILITIES: readonly AnyCapabilityDescriptor[] = [stateGet, statePut, stateDelete, stateList, emit, sleep, snapshot, script, operatorAttach]
