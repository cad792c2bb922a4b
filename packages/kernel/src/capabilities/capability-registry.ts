import { z } from 'zod'
import { KernelError } from '../errors.ts'
import type { CapabilityLimit, Genesis } from '../kernel-types.ts'
import type { AnyCapabilityDescriptor } from './types.ts'

/** The registered capabilities with their effective limits (descriptor defaults overridden by the genesis). */
export interface CapabilityRegistry {
  has(id: string): boolean
  /** @throws KernelError `UNKNOWN_CAPABILITY` */
  get(id: string): AnyCapabilityDescriptor
  limits(id: string): CapabilityLimit
  /** JSON Schema of the invocation arguments. */
  argsSchema(id: string): unknown
  /** Ids, sorted. */
  ids(): string[]
}

class DefaultCapabilityRegistry implements CapabilityRegistry {
  readonly #descriptors = new Map<string, AnyCapabilityDescriptor>()
  readonly #limits = new Map<string, CapabilityLimit>()
  readonly #schemas = new Map<string, unknown>()

  constructor (descriptors: readonly AnyCapabilityDescriptor[], genesis: Genesis) {
    for (const d of descriptors) {
      if (this.#descriptors.has(d.id)) throw new KernelError('CONFIG_INVALID', `Cannot register capability ${d.id}: it is already registered`)
      this.#descriptors.set(d.id, d)
      const fromGenesis = genesis.capabilities[d.id]
      const limit: CapabilityLimit = {
        ceiling: fromGenesis?.ceiling ?? d.limits?.ceiling ?? genesis.limits.defaultBudget.tokens,
        cost: fromGenesis?.cost ?? d.limits?.cost ?? 1
      }
      const rate = fromGenesis !== undefined ? fromGenesis.rateLimit : d.limits?.rateLimit
      if (rate !== undefined) limit.rateLimit = { capacity: rate.capacity, refillPerTick: rate.refillPerTick }
      this.#limits.set(d.id, limit)
    }
  }

  has (id: string): boolean { return this.#descriptors.has(id) }

  get (id: string): AnyCapabilityDescriptor {
    const d = this.#descriptors.get(id)
    if (d === undefined) throw new KernelError('UNKNOWN_CAPABILITY', `Unknown capability ${id}: no descriptor has this id`)
    return d
  }

  limits (id: string): CapabilityLimit {
    const l = this.#limits.get(id)
    if (l === undefined) throw new KernelError('UNKNOWN_CAPABILITY', `Unknown capability ${id}: no descriptor has this id`)
    return l
  }

  argsSchema (id: string): unknown {
    let schema = this.#schemas.get(id)
    if (schema === undefined) {
      try {
        schema = z.toJSONSchema(this.get(id).args, { unrepresentable: 'any' })
      } catch {
        schema = {}
      }
      this.#schemas.set(id, schema)
    }
    return schema
  }

  ids (): string[] { return [...this.#descriptors.keys()].sort() }
}

/**
 * Builds the registry.
 *
 * @throws KernelError `CONFIG_INVALID` when two descriptors share an id
 */
export function createCapabilityRegistry (descriptors: readonly AnyCapabilityDescriptor[], genesis: Genesis): CapabilityRegistry {
  return new DefaultCapabilityRegistry(descriptors, genesis)
}
