import type { z } from 'zod'
import type { CanonicalValue } from '@os2/crypto'
import type { CapabilityLimit, Grant } from '../kernel-types.ts'
import type { KernelToken } from '../protocol/schemas.ts'

/** The four budget kinds a token is metered in. */
export type BudgetKind = 'tokens' | 'memory' | 'network' | 'wallClockMs'

/** What one invocation touches, checked against the grant scope at submit and at start. */
export interface InvocationScope {
  namespaces?: string[]
  hosts?: string[]
  paths?: string[]
}

/**
 * What a capability handler can do. Every call is checked against the grant
 * scope, metered against the token budget and (for emits and external calls)
 * written to the ledger. Key/value writes go to the token's draft state and are
 * committed only if the token completes.
 */
export interface CapabilityContext {
  readonly token: KernelToken
  readonly grant: Grant
  /** The current virtual tick. */
  readonly tick: number
  /** Largest value accepted by `put` and `emit`, bytes. */
  readonly maxPayloadBytes: number
  get(namespace: string, key: string): CanonicalValue | undefined
  put(namespace: string, key: string, value: CanonicalValue): void
  /** Returns whether the key existed. */
  delete(namespace: string, key: string): boolean
  /** Keys of a namespace in sorted order, optionally filtered by prefix. */
  list(namespace: string, options?: { prefix?: string, limit?: number }): Array<{ key: string, value: CanonicalValue }>
  /** Appends a `custom` event carrying `name` and `data`. */
  emit(name: string, data?: CanonicalValue): void
  /** Advances the token's virtual time (and the kernel clock) by `ticks`. */
  sleep(ticks: number): void
  /** Charges `amount` of `kind` to the token budget; throws `BUDGET_EXCEEDED` on overrun. */
  charge(kind: BudgetKind, amount: number): void
  /**
   * Runs a call to the outside world once and records its result as an
   * `external_result` event; replay serves the recorded result without calling
   * `fn`. Network bytes are charged from the result size, wall-clock time from
   * the injected wall clock (recorded, so replay reproduces a kill exactly).
   * `timed: false` leaves wall time out of the record (and the charge): for
   * sources whose own limits are enforced elsewhere and whose ledger must not
   * depend on how fast the machine is (a sandboxed script's output).
   */
  external<T extends CanonicalValue>(name: string, fn: () => Promise<T> | T, options?: { host?: string, timed?: boolean }): Promise<T>
  /** A uint32 from the kernel's seeded RNG. */
  random(): number
  /** Asks the kernel to take a snapshot once this token's writes are committed. */
  snapshot(label?: string): void
  /** Checks that `scope` is covered by the grant; throws a capability violation otherwise. */
  checkScope(scope: InvocationScope): void
  /**
   * Invokes another capability inside this token, checked exactly as a
   * top-level invocation: arguments parsed by its descriptor
   * (`SCHEMA_VIOLATION`), a grant of the token's principal covering it and its
   * scope (a capability violation otherwise), its rate limit, its cost charged
   * to this token's budget. Its handler runs on this context with that grant
   * (scope checks inside it use it); its writes, events and external results
   * belong to this token, so replay reproduces them. Nests at most
   * `MAX_INVOKE_DEPTH` deep.
   */
  invoke(capability: string, args: unknown): Promise<CanonicalValue>
}

/**
 * A capability: its id and version, the invocation shape (zod, exported as JSON
 * Schema), default limits and the handler. Later packages (sandbox, federation)
 * register their own through `createKernel(components, { descriptors })`.
 */
export interface CapabilityDescriptor<Args = unknown> {
  id: string
  version: number
  description: string
  args: z.ZodType<Args>
  /**
   * Optional fast path for common arguments (see `protocol/quick-parse.ts`):
   * returns exactly what `args.parse` would for inputs it is sure of, and
   * undefined for anything `args` should judge.
   */
  quickArgs?: (args: unknown) => Args | undefined
  /** Defaults; `genesis.capabilities[id]` overrides them. */
  limits?: Partial<CapabilityLimit>
  /** What an invocation with `args` touches, for the grant scope check before it runs. */
  scope?: (args: Args) => InvocationScope
  handler: (args: Args, ctx: CapabilityContext) => Promise<CanonicalValue | undefined> | CanonicalValue | undefined
}

/** Erases the argument type so descriptors of different shapes fit one registry. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCapabilityDescriptor = CapabilityDescriptor<any>

/** Identity helper that keeps `Args` inferred from the schema. */
export function defineCapability<Args> (descriptor: CapabilityDescriptor<Args>): CapabilityDescriptor<Args> {
  return descriptor
}
