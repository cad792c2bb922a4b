import { z } from 'zod'
import { defineCapability, jsonValue } from '@os2/kernel'
import type { AnyCapabilityDescriptor, CapabilityContext } from '@os2/kernel'
import type { CanonicalValue } from '@os2/crypto'
import { MAX_KEY_LENGTH, MAX_VECTOR_DIMENSION } from '../memory/memory-limits.ts'
import { MEMORY_KINDS, isValidNamespace, memoryName } from '../memory/memory-ref.ts'
import type { MemoryRef } from '../memory/memory-ref.ts'
import type { FederationReplica } from '../replica.ts'
import type * as Y from 'yjs'
import type * as ViewsModule from '../memory/memory-views.ts'

/** What the memory capabilities work on. */
export interface MemoryCapabilityComponents {
  /**
   * The node's replica. Called only inside recorded external calls, so a
   * ledger replayed on open never touches it (it may not even be loaded).
   */
  replica(): FederationReplica | Promise<FederationReplica>
  /** Runs `fn` with the replica clock reading `tick` (the token's virtual tick); default runs `fn` as is. */
  atTick?<T>(tick: number, fn: () => T): T
}

/** Capability ids a peer's grant may name so its bundles merge: every kind, or one kind. */
export const FEDERATION_CAPABILITIES = ['memory.federate', 'memory.kv.write', 'memory.episodic.write', 'memory.vector.write'] as const

/** Every capability id registered by {@link createMemoryCapabilities}. */
export const MEMORY_CAPABILITY_IDS = [
  'memory.federate', 'memory.kv.write', 'memory.kv.get', 'memory.episodic.write', 'memory.episodic.list',
  'memory.vector.write', 'memory.vector.search', 'memory.log', 'memory.show'
] as const

const Namespace = z.string().refine(isValidNamespace, 'expected 1-128 of [A-Za-z0-9._-], starting with a letter or digit')
const Key = z.string().min(1).max(MAX_KEY_LENGTH)
const Json = jsonValue()
const Vector = z.array(z.number().refine(Number.isFinite, 'expected a finite number')).min(1).max(MAX_VECTOR_DIMENSION)
const Kind = z.enum(MEMORY_KINDS)

type Views = typeof ViewsModule
let views: Promise<Views> | undefined
// Yjs and the views load on the first live call: opening (replaying) a kernel never needs them.
const loadViews = (): Promise<Views> => (views ??= import('../memory/memory-views.ts'))

/** Result recorded for a write: the commit it made (null when nothing changed) and its update size. */
interface WriteRecord { memory: string, commit_id: string | null, seq: number | null, bytes: number }

const ns = (args: { namespace: string }): { namespaces: string[] } => ({ namespaces: [args.namespace] })

/**
 * The memory capabilities of a node, registered into its kernel
 * (`createKernel(components, { descriptors })`). Every read and write of a
 * memory document runs inside `ctx.external`, so it happens once and its
 * result is recorded: replaying the ledger (on open, `ledger-verify --replay`,
 * snapshot replay) serves the recorded result and never re-applies a write.
 * A write charges its Yjs update size to the token's memory budget; its
 * commit is recorded by the replica as a `memory.commit` ledger event.
 */
export function createMemoryCapabilities (components: MemoryCapabilityComponents): AnyCapabilityDescriptor[] {
  const atTick = <T>(tick: number, fn: () => T): T => components.atTick === undefined ? fn() : components.atTick(tick, fn)

  async function write (ctx: CapabilityContext, ref: MemoryRef, fn: (doc: Y.Doc, v: Views) => void): Promise<CanonicalValue> {
    const memory = memoryName(ref)
    const rec = await ctx.external<CanonicalValue>('memory.write', async () => {
      const v = await loadViews()
      const replica = await components.replica()
      const bundle = atTick(ctx.tick, () => replica.write(ref, doc => { fn(doc, v) }))
      // The token's completion is a durable promise: seal the write into the journal now rather
      // than leave it in the outbox for a later group commit (lost if the process died first).
      if (bundle !== undefined && replica.pending() > 0) replica.flush()
      const out: WriteRecord = bundle === undefined
        ? { memory, commit_id: null, seq: null, bytes: 0 }
        : { memory, commit_id: replica.memories.head(memory) ?? null, seq: bundle.seq, bytes: Buffer.from(bundle.update, 'base64').length }
      return out as unknown as CanonicalValue
    }, { timed: false }) as unknown as WriteRecord
    ctx.charge('memory', rec.bytes)
    return { memory: rec.memory, commit: rec.commit_id, seq: rec.seq, bytes: rec.bytes }
  }

  function read<T extends CanonicalValue> (ctx: CapabilityContext, name: string, fn: (replica: FederationReplica, v: Views) => T): Promise<T> {
    return ctx.external<T>(name, async () => {
      const v = await loadViews()
      return fn(await components.replica(), v)
    }, { timed: false })
  }

  return [
    defineCapability({
      id: 'memory.federate',
      version: 1,
      description: 'Lets a peer node (principal = its peer id) merge changes to the granted namespaces of every memory kind; not invocable',
      args: z.strictObject({}),
      handler: () => { throw new RangeError('memory.federate is granted to peers, not invoked: use memory.<kind>.write') }
    }),
    defineCapability({
      id: 'memory.kv.write',
      version: 1,
      description: 'Sets and deletes keys of a key/value memory in one commit (also lets a peer merge kv changes)',
      args: z.strictObject({ namespace: Namespace, set: z.record(Key, Json).optional(), delete: z.array(Key).max(1024).optional() })
        .refine(a => Object.keys(a.set ?? {}).length + (a.delete?.length ?? 0) > 0, 'expected something to set or delete'),
      scope: ns,
      handler: (args, ctx) => write(ctx, { kind: 'kv', namespace: args.namespace }, (doc, { kvView }) => {
        const kv = kvView(doc)
        for (const [k, v] of Object.entries(args.set ?? {})) kv.set(k, v as CanonicalValue)
        for (const k of args.delete ?? []) kv.delete(k)
      })
    }),
    defineCapability({
      id: 'memory.kv.get',
      version: 1,
      description: 'Reads one key of a key/value memory, or all of its keys when no key is given',
      args: z.strictObject({ namespace: Namespace, key: Key.optional() }),
      scope: ns,
      handler: (args, ctx) => read(ctx, 'memory.kv.get', (replica, { kvView }) => {
        const kv = kvView(replica.memories.doc({ kind: 'kv', namespace: args.namespace }))
        if (args.key === undefined) return { keys: kv.keys() }
        const value = kv.get(args.key)
        return { key: args.key, found: value !== undefined, value: value ?? null }
      })
    }),
    defineCapability({
      id: 'memory.episodic.write',
      version: 1,
      description: 'Appends events to an episodic memory in one commit (also lets a peer merge episodic changes)',
      args: z.strictObject({ namespace: Namespace, events: z.array(Json).min(1).max(1024) }),
      scope: ns,
      handler: (args, ctx) => write(ctx, { kind: 'episodic', namespace: args.namespace }, (doc, { episodicView }) => {
        episodicView(doc).append(...(args.events as CanonicalValue[]))
      })
    }),
    defineCapability({
      id: 'memory.episodic.list',
      version: 1,
      description: 'Lists the events of an episodic memory (from an index, at most a limit)',
      args: z.strictObject({ namespace: Namespace, from: z.int().min(0).default(0), limit: z.int().min(1).max(10_000).default(1000) }),
      scope: ns,
      handler: (args, ctx) => read(ctx, 'memory.episodic.list', (replica, { episodicView }) => {
        const all = episodicView(replica.memories.doc({ kind: 'episodic', namespace: args.namespace })).list()
        return { total: all.length, from: args.from, events: all.slice(args.from, args.from + args.limit) }
      })
    }),
    defineCapability({
      id: 'memory.vector.write',
      version: 1,
      description: 'Upserts and removes vectors of a vector memory in one commit (also lets a peer merge vector changes)',
      args: z.strictObject({
        namespace: Namespace,
        upsert: z.array(z.strictObject({ id: Key, vector: Vector, metadata: Json.optional() })).max(1024).optional(),
        remove: z.array(Key).max(1024).optional()
      }).refine(a => (a.upsert?.length ?? 0) + (a.remove?.length ?? 0) > 0, 'expected something to upsert or remove'),
      scope: ns,
      handler: (args, ctx) => write(ctx, { kind: 'vector', namespace: args.namespace }, (doc, { vectorView }) => {
        const v = vectorView(doc)
        for (const e of args.upsert ?? []) v.upsert(e.id, e.vector, (e.metadata ?? null) as CanonicalValue)
        for (const id of args.remove ?? []) v.remove(id)
      })
    }),
    defineCapability({
      id: 'memory.vector.search',
      version: 1,
      description: 'Top-k cosine search of a vector memory (ties broken by id)',
      args: z.strictObject({ namespace: Namespace, query: Vector, k: z.int().min(1).max(1000).default(5) }),
      scope: ns,
      handler: (args, ctx) => read(ctx, 'memory.vector.search', (replica, { vectorView }) => ({
        hits: vectorView(replica.memories.doc({ kind: 'vector', namespace: args.namespace })).search(args.query, args.k) as unknown as CanonicalValue
      }))
    }),
    defineCapability({
      id: 'memory.log',
      version: 1,
      description: 'The commit chain of one memory: id, parents, author, tick and update hash of each commit, newest last',
      args: z.strictObject({ kind: Kind, namespace: Namespace, limit: z.int().min(1).max(10_000).default(1000) }),
      scope: ns,
      handler: (args, ctx) => read(ctx, 'memory.log', replica => {
        const commits = replica.memories.commits({ kind: args.kind, namespace: args.namespace })
        return {
          memory: memoryName(args),
          total: commits.length,
          commits: commits.slice(-args.limit).map(c => ({ id: c.id, parents: c.parents, author: c.author, tick: c.tick, update_hash: c.updateHash }))
        }
      })
    }),
    defineCapability({
      id: 'memory.show',
      version: 1,
      description: 'The canonical content of one memory, now or right after a given commit',
      args: z.strictObject({ kind: Kind, namespace: Namespace, at: z.string().regex(/^[0-9a-f]{64}$/).optional() }),
      scope: ns,
      handler: (args, ctx) => read(ctx, 'memory.show', (replica, { canonicalState }) => {
        const ref = { kind: args.kind, namespace: args.namespace }
        const state = args.at === undefined
          ? replica.memories.canonical(ref)
          : canonicalState(args.kind, replica.memories.readAt(ref, args.at))
        return { memory: memoryName(ref), head: replica.memories.head(ref) ?? null, at: args.at ?? null, state }
      })
    })
  ]
}
