import { parse } from 'smol-toml'
import { z } from 'zod'
import { KernelError } from './errors.ts'
import type { CapabilityLimit, Genesis, KernelLimits } from './kernel-types.ts'

/** What `docs/CapabilityLimits.toml` holds once parsed. */
export interface CapabilityLimits {
  limits: KernelLimits
  capabilities: Record<string, CapabilityLimit>
}

const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const Rate = z.number().nonnegative().finite()

const LimitsFile = z.strictObject({
  kernel: z.strictObject({
    max_request_bytes: Count,
    max_payload_bytes: Count,
    aging_ticks: Count.min(1),
    default_budget: z.strictObject({ tokens: Count, memory: Count, network: Count, wall_clock_ms: Count })
  }),
  capabilities: z.record(z.string(), z.strictObject({
    ceiling: Count,
    cost: Count,
    rate_limit: z.strictObject({ capacity: Rate, refill_per_tick: Rate }).optional()
  })).default({})
})

/**
 * Parses the content of `docs/CapabilityLimits.toml` (the TOML text, or the
 * object a TOML parser produced). The kernel core never reads files: apps read
 * the file and pass its text here.
 *
 * @throws KernelError `CONFIG_INVALID` when the TOML does not parse or does not match the schema
 * @example
 * const { limits } = parseCapabilityLimits('[kernel]\nmax_request_bytes = 1024\n...')
 */
export function parseCapabilityLimits (source: string | Record<string, unknown>): CapabilityLimits {
  let raw: unknown = source
  if (typeof source === 'string') {
    try {
      raw = parse(source)
    } catch (err) {
      throw new KernelError('CONFIG_INVALID', `Cannot parse capability limits: ${(err as Error).message}`, { cause: err })
    }
  }
  const parsed = LimitsFile.safeParse(raw)
  if (!parsed.success) {
    throw new KernelError('CONFIG_INVALID', `Cannot load capability limits: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`)
  }
  const { kernel, capabilities } = parsed.data
  const out: Record<string, CapabilityLimit> = {}
  for (const id of Object.keys(capabilities).sort()) {
    const c = capabilities[id]
    if (c === undefined) continue
    const limit: CapabilityLimit = { ceiling: c.ceiling, cost: c.cost }
    if (c.rate_limit !== undefined) limit.rateLimit = { capacity: c.rate_limit.capacity, refillPerTick: c.rate_limit.refill_per_tick }
    out[id] = limit
  }
  return {
    limits: {
      maxRequestBytes: kernel.max_request_bytes,
      maxPayloadBytes: kernel.max_payload_bytes,
      agingTicks: kernel.aging_ticks,
      defaultBudget: {
        tokens: kernel.default_budget.tokens,
        memory: kernel.default_budget.memory,
        network: kernel.default_budget.network,
        wallClockMs: kernel.default_budget.wall_clock_ms
      }
    },
    capabilities: out
  }
}

/**
 * The built-in defaults, identical to `docs/CapabilityLimits.toml` (a test keeps
 * them in sync), for callers that have no file at hand.
 */
export const DEFAULT_CAPABILITY_LIMITS: CapabilityLimits = {
  limits: {
    maxRequestBytes: 262144,
    maxPayloadBytes: 65536,
    agingTicks: 16,
    defaultBudget: { tokens: 1000, memory: 1048576, network: 1048576, wallClockMs: 10000 }
  },
  capabilities: {
    'git.fetch': { ceiling: 1000000, cost: 50 },
    'kernel.emit': { ceiling: 100000, cost: 1, rateLimit: { capacity: 64, refillPerTick: 1 } },
    'kernel.script': { ceiling: 1000000, cost: 1 },
    'kernel.sleep': { ceiling: 1000000, cost: 1 },
    'kernel.snapshot': { ceiling: 1000, cost: 1 },
    'kernel.state.delete': { ceiling: 100000, cost: 1 },
    'kernel.state.get': { ceiling: 100000, cost: 1 },
    'kernel.state.list': { ceiling: 100000, cost: 1 },
    'kernel.state.put': { ceiling: 100000, cost: 1 },
    'memory.kv.write': { ceiling: 100000, cost: 1 },
    'module.mount': { ceiling: 1000000, cost: 10 },
    'net.fetch': { ceiling: 100000, cost: 5, rateLimit: { capacity: 16, refillPerTick: 0.25 } },
    'operator.attach': { ceiling: 1000, cost: 1 },
    'pip.install': { ceiling: 1000000, cost: 50 },
    'python.exec': { ceiling: 10000000, cost: 10 }
  }
}

/**
 * Builds a genesis from a seed, the operator principal and capability limits
 * (defaults: {@link DEFAULT_CAPABILITY_LIMITS}).
 *
 * @example
 * const genesis = createGenesis({ seed: '42', operator: 'operator' })
 */
export function createGenesis (init: { seed: string | number, operator?: string, limits?: CapabilityLimits | string }): Genesis {
  const source = init.limits === undefined
    ? DEFAULT_CAPABILITY_LIMITS
    : typeof init.limits === 'string' ? parseCapabilityLimits(init.limits) : init.limits
  return {
    version: 1,
    seed: String(init.seed),
    operator: init.operator ?? 'operator',
    limits: structuredClone(source.limits),
    capabilities: structuredClone(source.capabilities)
  }
}

const GenesisSchema = z.strictObject({
  version: z.literal(1),
  seed: z.string().min(1).max(256),
  operator: z.string().min(1).max(128),
  limits: z.strictObject({
    maxRequestBytes: Count,
    maxPayloadBytes: Count,
    agingTicks: Count.min(1),
    defaultBudget: z.strictObject({ tokens: Count, memory: Count, network: Count, wallClockMs: Count })
  }),
  capabilities: z.record(z.string(), z.strictObject({
    ceiling: Count,
    cost: Count,
    rateLimit: z.strictObject({ capacity: Rate, refillPerTick: Rate }).optional()
  }))
})

/**
 * Validates a genesis object (for example the parsed `genesis.json`).
 *
 * @throws KernelError `GENESIS_INVALID` when it does not match the schema
 */
export function parseGenesis (value: unknown): Genesis {
  const parsed = GenesisSchema.safeParse(value)
  if (!parsed.success) throw new KernelError('GENESIS_INVALID', `Cannot load genesis: ${z.prettifyError(parsed.error).replace(/\n/g, '; ')}`)
  const g = parsed.data
  const capabilities: Record<string, CapabilityLimit> = {}
  for (const [id, c] of Object.entries(g.capabilities)) {
    const limit: CapabilityLimit = { ceiling: c.ceiling, cost: c.cost }
    if (c.rateLimit !== undefined) limit.rateLimit = c.rateLimit
    capabilities[id] = limit
  }
  return { version: 1, seed: g.seed, operator: g.operator, limits: g.limits, capabilities }
}
