import { canonicalize } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'
import { KernelError } from '../errors.ts'
import { canonicalByteLength } from '../canonical-size.ts'
import type { Clock } from '../clock.ts'
import type { EventEnvelope } from '../ledger/types.ts'
import type { Grant } from '../kernel-types.ts'
import type { KernelToken } from '../protocol/schemas.ts'
import type { StateRoot } from '../state/kernel-state.ts'
import { EVENT_TYPES } from '../events.ts'
import { checkGrant, scopeGap, VIOLATION_CODES } from '../capabilities/grants.ts'
import { takeFromBucket } from '../capabilities/rate-limit.ts'
import type { BucketState } from '../capabilities/rate-limit.ts'
import type { CapabilityRegistry } from '../capabilities/capability-registry.ts'
import type { BudgetKind, CapabilityContext, InvocationScope } from '../capabilities/types.ts'

export type Metered = Record<BudgetKind, number>

/** Injected wall clock (milliseconds), owned by apps; the kernel core never reads time itself. */
export interface WallClock { now(): number }

/** The ids every event of one token carries. */
export interface TokenEventIds { capability_id: string, token_id: string }

/** What a token run needs from the kernel (one object per kernel, shared by its runs). */
export interface TokenRunHooks {
  clock: Clock
  append(type: string, payload: Record<string, CanonicalValue | undefined>, ids: TokenEventIds): EventEnvelope
  /** During replay: the recorded event the ledger is about to reproduce, if any. */
  recordedNext(): EventEnvelope | undefined
  random(): number
  wallClock: WallClock | undefined
  maxPayloadBytes: number
  /** The capabilities `invoke` can reach; without it nested invocation is refused. */
  registry?: CapabilityRegistry
}

/** How deep `invoke` may nest (a capability invoking one that invokes another …). */
export const MAX_INVOKE_DEPTH = 4

export const KV_PREFIX = 'kv/'

/** UTF-8 byte length of a string without allocating. */
export function utf8Length (s: string): number {
  let n = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) n += 1
    else if (c < 0x800) n += 2
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) { n += 4; i++ } else n += 3
  }
  return n
}

/** Throws the `BUDGET_EXCEEDED` error the scheduler turns into `resource_budget_exceeded`. */
export function budgetExceeded (kind: BudgetKind, limit: number, used: number): KernelError {
  return new KernelError('BUDGET_EXCEEDED', `Token budget exceeded: ${kind} used ${used} of ${limit}`, { details: { kind, limit, used } })
}

export function violation (reason: keyof typeof VIOLATION_CODES, detail: string, extra: Record<string, unknown> = {}): KernelError {
  return new KernelError(VIOLATION_CODES[reason], `Capability violation (${reason}): ${detail}`, { details: { violation: reason, detail, ...extra } })
}

/**
 * One token's execution: the handler context over a draft state. Writes go to
 * the draft, which the scheduler commits only when the token completes.
 */
export class TokenRun implements CapabilityContext {
  readonly token: KernelToken
  readonly ids: TokenEventIds
  /** The grant of the invocation running now: the token's, or a nested invocation's while it runs. */
  readonly #grants: Grant[]
  readonly used: Metered = { tokens: 0, memory: 0, network: 0, wallClockMs: 0 }
  readonly budget: Metered
  draft: StateRoot
  snapshotLabels: string[] = []
  readonly #hooks: TokenRunHooks
  #cancel: CanonicalValue | undefined
  /** The budget overrun or cancellation that stopped this run, if any. */
  halted: KernelError | undefined
  /** Metering points passed so far (where an interrupt is observed). */
  #meters = 0

  constructor (token: KernelToken, grant: Grant, budget: Metered, draft: StateRoot, hooks: TokenRunHooks) {
    this.token = token
    this.ids = { capability_id: token.capability, token_id: token.id }
    this.#grants = [grant]
    this.budget = budget
    this.draft = draft
    this.#hooks = hooks
  }

  get grant (): Grant { return this.#grants[this.#grants.length - 1] as Grant }
  get tick (): number { return this.#hooks.clock.now() }
  get maxPayloadBytes (): number { return this.#hooks.maxPayloadBytes }

  /**
   * Asks the run to stop at its next metering point (a `CancelToken` for a running
   * token). The interruption is recorded as an `interrupt` event carrying the
   * request and the metering point, so replay stops the token at the same place.
   */
  requestCancel (request: CanonicalValue): void {
    this.#cancel ??= request
  }

  #checkInterrupt (): void {
    const recorded = this.#hooks.recordedNext()
    if (recorded !== undefined) {
      if (recorded.type === EVENT_TYPES.interrupt && recorded.token_id === this.token.id && recorded.payload.at === this.#meters) {
        this.#hooks.append(EVENT_TYPES.interrupt, { ...recorded.payload }, this.ids)
        throw new KernelError('TOKEN_CANCELLED', `Token ${this.token.id} was cancelled while running`)
      }
      return
    }
    if (this.#cancel !== undefined) {
      this.#hooks.append(EVENT_TYPES.interrupt, { request: this.#cancel, at: this.#meters }, this.ids)
      throw new KernelError('TOKEN_CANCELLED', `Token ${this.token.id} was cancelled while running`)
    }
  }

  charge (kind: BudgetKind, amount: number): void {
    if (!Number.isSafeInteger(amount) || amount < 0) throw new RangeError(`Cannot charge ${amount} ${kind}: amount must be a non-negative integer`)
    if (this.halted !== undefined) throw this.halted
    try {
      this.#checkInterrupt()
      this.#meters++
      this.used[kind] += amount
      if (kind === 'tokens' && amount > 0) this.#hooks.clock.advance(amount)
      if (this.used[kind] > this.budget[kind]) throw budgetExceeded(kind, this.budget[kind], this.used[kind])
    } catch (err) {
      // Sticky: a handler that catches the error cannot keep running past it.
      this.halted = err as KernelError
      throw err
    }
  }

  checkScope (scope: InvocationScope): void {
    const gap = scopeGap(this.grant.scope, scope)
    if (gap !== undefined) throw violation('out_of_scope', `${gap} is outside the scope of grant ${this.grant.id}`, { grantId: this.grant.id })
  }

  #ns (namespace: string): string {
    this.checkScope({ namespaces: [namespace] })
    return KV_PREFIX + namespace
  }

  get (namespace: string, key: string): CanonicalValue | undefined {
    const section = this.#ns(namespace)
    this.charge('tokens', 1)
    return this.draft.get(section, key)
  }

  put (namespace: string, key: string, value: CanonicalValue): void {
    const section = this.#ns(namespace)
    const bytes = canonicalByteLength(value)
    if (bytes > this.#hooks.maxPayloadBytes) {
      throw new KernelError('PAYLOAD_TOO_LARGE', `Cannot store ${namespace}/${key}: value is ${bytes} bytes, the limit is ${this.#hooks.maxPayloadBytes}`)
    }
    this.charge('tokens', 1)
    this.charge('memory', bytes + utf8Length(key))
    this.draft = this.draft.set(section, key, value)
  }

  delete (namespace: string, key: string): boolean {
    const section = this.#ns(namespace)
    this.charge('tokens', 1)
    const existed = this.draft.has(section, key)
    this.draft = this.draft.delete(section, key)
    return existed
  }

  list (namespace: string, options: { prefix?: string, limit?: number } = {}): Array<{ key: string, value: CanonicalValue }> {
    const section = this.#ns(namespace)
    this.charge('tokens', 1)
    const sec = this.draft.section(section)
    const prefix = options.prefix ?? ''
    const keys = [...sec.keys()].filter(k => k.startsWith(prefix)).sort()
    const limited = options.limit === undefined ? keys : keys.slice(0, options.limit)
    this.charge('tokens', Math.floor(limited.length / 100))
    return limited.map(key => ({ key, value: sec.get(key) as CanonicalValue }))
  }

  emit (name: string, data: CanonicalValue = null): void {
    const bytes = canonicalByteLength(data)
    if (bytes > this.#hooks.maxPayloadBytes) {
      throw new KernelError('PAYLOAD_TOO_LARGE', `Cannot emit ${name}: data is ${bytes} bytes, the limit is ${this.#hooks.maxPayloadBytes}`)
    }
    this.charge('tokens', 1)
    this.#hooks.append(EVENT_TYPES.custom, { name, data }, this.ids)
  }

  sleep (ticks: number): void {
    if (!Number.isSafeInteger(ticks) || ticks < 0) throw new RangeError(`Cannot sleep ${ticks} ticks: ticks must be a non-negative integer`)
    this.charge('tokens', 1)
    this.#hooks.clock.advance(ticks)
  }

  random (): number {
    this.charge('tokens', 1)
    return this.#hooks.random()
  }

  snapshot (label?: string): void {
    this.charge('tokens', 1)
    this.snapshotLabels.push(label ?? `token ${this.token.id}`)
  }

  async invoke (capability: string, args: unknown): Promise<CanonicalValue> {
    if (this.halted !== undefined) throw this.halted
    const registry = this.#hooks.registry
    if (registry === undefined || !registry.has(capability)) throw new KernelError('UNKNOWN_CAPABILITY', `Unknown capability ${capability}: no descriptor has this id`)
    if (this.#grants.length > MAX_INVOKE_DEPTH) {
      throw new KernelError('CAPABILITY_DENIED', `Cannot invoke ${capability}: invocations nest at most ${MAX_INVOKE_DEPTH} deep`)
    }
    const descriptor = registry.get(capability)
    const parsed = descriptor.args.safeParse(args)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const where = issue === undefined || issue.path.length === 0 ? '' : ` at ${issue.path.join('.')}`
      throw new KernelError('SCHEMA_VIOLATION', `Invalid arguments for ${capability}${where}: ${issue?.message ?? 'does not match the schema'}`)
    }
    const scope = descriptor.scope?.(parsed.data) ?? {}
    const check = checkGrant(this.draft, this.token.principal, capability, scope, this.tick)
    if (!check.ok) throw violation(check.reason, check.detail, check.grantId !== undefined ? { grantId: check.grantId } : {})
    const limits = registry.limits(capability)
    if (limits.rateLimit !== undefined) {
      const taken = takeFromBucket(limits.rateLimit, this.draft.get('bucket', capability) as unknown as BucketState | undefined, this.tick)
      if (taken === undefined) {
        throw violation('rate_limited', `the ${capability} rate limit (${limits.rateLimit.capacity} per bucket, ${limits.rateLimit.refillPerTick} per tick) is exhausted at tick ${this.tick}`)
      }
      this.draft = this.draft.set('bucket', capability, taken as unknown as CanonicalValue)
    }
    const before = this.used.tokens
    this.#grants.push(check.grant)
    try {
      this.charge('tokens', limits.cost)
      const out = await descriptor.handler(parsed.data, this)
      if (this.halted !== undefined) throw this.halted
      return out ?? null
    } finally {
      this.#grants.pop()
      // Counted like a top-level invocation, in the draft: kept only if the token completes.
      const usage = this.draft.get('usage', capability) as { invocations: number, tokensCharged: number } | undefined
      this.draft = this.draft.set('usage', capability, {
        invocations: (usage?.invocations ?? 0) + 1,
        tokensCharged: (usage?.tokensCharged ?? 0) + this.used.tokens - before
      })
    }
  }

  async external<T extends CanonicalValue> (name: string, fn: () => Promise<T> | T, options: { host?: string, timed?: boolean } = {}): Promise<T> {
    if (options.host !== undefined) this.checkScope({ hosts: [options.host] })
    this.charge('tokens', 1)
    const recorded = this.#hooks.recordedNext()
    let result: CanonicalValue
    let error: string | undefined
    let elapsed = 0
    if (recorded !== undefined) {
      if (recorded.type !== EVENT_TYPES.externalResult || recorded.payload.name !== name) {
        throw new KernelError('REPLAY_DIVERGED', `Replay expected an external result for ${name} at seq ${recorded.seq}, the ledger holds ${recorded.type}`)
      }
      result = (recorded.payload.result ?? null) as CanonicalValue
      error = typeof recorded.payload.error === 'string' ? recorded.payload.error : undefined
      elapsed = typeof recorded.payload.wall_clock_ms === 'number' ? recorded.payload.wall_clock_ms : 0
    } else {
      const wall = options.timed === false ? undefined : this.#hooks.wallClock
      const t0 = wall?.now() ?? 0
      try {
        result = await fn()
        canonicalize(result)
      } catch (err) {
        result = null
        error = err instanceof Error ? err.message : String(err)
      }
      elapsed = wall === undefined ? 0 : Math.max(0, Math.round(wall.now() - t0))
    }
    const bytes = canonicalByteLength(result)
    this.#hooks.append(EVENT_TYPES.externalResult, {
      name,
      result,
      bytes,
      wall_clock_ms: elapsed,
      ...(error !== undefined ? { error } : {})
    }, this.ids)
    this.charge('network', bytes)
    this.charge('wallClockMs', elapsed)
    if (error !== undefined) throw new KernelError('HANDLER_FAILED', `External call ${name} failed: ${error}`)
    return result as T
  }
}
