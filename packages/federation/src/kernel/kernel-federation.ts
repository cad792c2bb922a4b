import { createMemoryCapabilities } from '../capabilities/memory-capabilities.ts'
import { createFederationReplica } from '../replica.ts'
import { createKernelGrantBook } from './kernel-grant-book.ts'
import { createKernelLedgerPort } from './kernel-ledger-port.ts'
import type { AnyCapabilityDescriptor } from '@os2/kernel'
import type { NodeIdentity } from '../identity.ts'
import type { GrantBook } from '../policy/grant-book.ts'
import type { FederationReplica, FederationReplicaInit } from '../replica.ts'
import type { ReplicaStorage } from '../storage/replica-storage.ts'
import type { KernelGrantLike } from './kernel-grant-book.ts'
import type { KernelLedgerPort, RecordingKernel } from './kernel-ledger-port.ts'

/** What federation needs from the kernel it is attached to. */
export interface FederationKernel extends RecordingKernel {
  grants(): KernelGrantLike[]
  readonly ledger: { readonly head: string, readonly size: number, get(seq: number): { tick: number } | undefined }
}

export interface KernelFederationComponents {
  identity: NodeIdentity
  /** Journal and memory state (default: nothing persisted). */
  storage?: ReplicaStorage
  /** Cluster-wide grants with signed revocations, consulted beside the kernel's own grants. */
  shared?: GrantBook
}

/** One node's federation bound to its kernel: memory capabilities in, verdicts and commits out. */
export interface KernelFederation {
  /** The memory capabilities, for `createKernel(components, { descriptors })` (or `openDataDir`). */
  readonly descriptors: AnyCapabilityDescriptor[]
  /**
   * Creates the replica (recovering its journal) with the kernel as its ledger
   * and grant source. Call once, after the kernel is open: replaying the
   * kernel's ledger on open must not reach the replica, and does not.
   */
  attach(kernel: FederationKernel, init?: FederationReplicaInit): FederationReplica
  /** The attached replica; throws before `attach`. */
  readonly replica: FederationReplica
  /** The ledger port (after `attach`): `flush()` waits for recorded verdicts and commits. */
  readonly ledger: KernelLedgerPort
}

class DefaultKernelFederation implements KernelFederation {
  readonly descriptors: AnyCapabilityDescriptor[]
  #replica: FederationReplica | undefined
  #ledger: KernelLedgerPort | undefined
  #tick: number | undefined
  readonly #c: KernelFederationComponents

  constructor (components: KernelFederationComponents) {
    this.#c = components
    this.descriptors = createMemoryCapabilities({
      replica: () => this.replica,
      atTick: (tick, fn) => {
        const before = this.#tick
        this.#tick = tick
        try { return fn() } finally { this.#tick = before }
      }
    })
  }

  get replica (): FederationReplica {
    if (this.#replica === undefined) throw new RangeError('Cannot use the memories: federation is not attached to a kernel yet')
    return this.#replica
  }

  get ledger (): KernelLedgerPort {
    if (this.#ledger === undefined) throw new RangeError('Cannot use the federation ledger: federation is not attached to a kernel yet')
    return this.#ledger
  }

  attach (kernel: FederationKernel, init: FederationReplicaInit = {}): FederationReplica {
    if (this.#replica !== undefined) throw new RangeError('Cannot attach federation twice')
    const now = (): number => kernel.ledger.get(kernel.ledger.size - 1)?.tick ?? 0
    this.#ledger = createKernelLedgerPort(kernel)
    const grants = createKernelGrantBook({ grants: () => kernel.grants(), now, issuer: this.#c.identity.keyPair.publicKey }, this.#c.shared)
    this.#replica = createFederationReplica({
      identity: this.#c.identity,
      grants,
      ledger: this.#ledger,
      clock: { now: () => this.#tick ?? now() },
      ...(this.#c.storage !== undefined ? { storage: this.#c.storage } : {})
    }, init)
    return this.#replica
  }
}

/**
 * Federation for a kernel-backed node.
 *
 * @example
 * const federation = createKernelFederation({ identity, storage: createFileStorage(dataDir) })
 * const kernel = await createKernel({ storage }, { genesis, descriptors: federation.descriptors })
 * federation.attach(kernel)
 */
export function createKernelFederation (components: KernelFederationComponents): KernelFederation {
  return new DefaultKernelFederation(components)
}
