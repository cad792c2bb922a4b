import { createMemoryCapabilities } from '../capabilities/memory-capabilities.ts'
import { createKernelGrantBook } from './kernel-grant-book.ts'
import { createKernelLedgerPort } from './kernel-ledger-port.ts'
import type { AnyCapabilityDescriptor } from '@os2/kernel'
import type { KeyPair } from '@os2/crypto'
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
  /** The node key: its identity (peer id) is derived when the replica is opened. */
  keyPair: KeyPair
  /** Journal and memory state, or a factory called when the replica opens (default: nothing persisted). */
  storage?: ReplicaStorage | (() => ReplicaStorage)
  /** Cluster-wide grants with signed revocations, consulted beside the kernel's own grants. */
  shared?: GrantBook
}

/** One node's federation bound to its kernel: memory capabilities in, verdicts and commits out. */
export interface KernelFederation {
  /** The memory capabilities, for `createKernel(components, { descriptors })` (or `openDataDir`). */
  readonly descriptors: AnyCapabilityDescriptor[]
  /**
   * Binds the kernel as the replica's ledger and grant source. Call once,
   * after the kernel is open: replaying its ledger on open never reaches the
   * replica. Cheap: the replica (Yjs, the journal) loads on first use.
   */
  attach(kernel: FederationKernel, init?: FederationReplicaInit): void
  /** Loads the replica (recovering its journal) once; memory tokens call it on their first live run. */
  open(): Promise<{ identity: NodeIdentity, replica: FederationReplica }>
  /** True once `open()` has loaded the replica. */
  readonly opened: boolean
  /** The ledger port (after `attach`): `flush()` waits for recorded verdicts and commits. */
  readonly ledger: KernelLedgerPort
  /** Flushes the ledger port and closes the replica when it was opened (checkpointing the memories). */
  close(): Promise<void>
}

class DefaultKernelFederation implements KernelFederation {
  readonly descriptors: AnyCapabilityDescriptor[]
  #kernel: FederationKernel | undefined
  #init: FederationReplicaInit = {}
  #opening: Promise<{ identity: NodeIdentity, replica: FederationReplica }> | undefined
  #replica: FederationReplica | undefined
  #ledger: KernelLedgerPort | undefined
  #tick: number | undefined
  readonly #c: KernelFederationComponents

  constructor (components: KernelFederationComponents) {
    this.#c = components
    this.descriptors = createMemoryCapabilities({
      replica: async () => (await this.open()).replica,
      atTick: (tick, fn) => {
        const before = this.#tick
        this.#tick = tick
        try { return fn() } finally { this.#tick = before }
      }
    })
  }

  get opened (): boolean { return this.#replica !== undefined }

  get ledger (): KernelLedgerPort {
    if (this.#ledger === undefined) throw new RangeError('Cannot use the federation ledger: federation is not attached to a kernel yet')
    return this.#ledger
  }

  attach (kernel: FederationKernel, init: FederationReplicaInit = {}): void {
    if (this.#kernel !== undefined) throw new RangeError('Cannot attach federation twice')
    this.#kernel = kernel
    this.#init = init
    this.#ledger = createKernelLedgerPort(kernel)
  }

  open (): Promise<{ identity: NodeIdentity, replica: FederationReplica }> {
    this.#opening ??= this.#load()
    return this.#opening
  }

  async #load (): Promise<{ identity: NodeIdentity, replica: FederationReplica }> {
    const kernel = this.#kernel
    if (kernel === undefined) throw new RangeError('Cannot open the memories: federation is not attached to a kernel yet')
    const [{ createFederationReplica }, { nodeIdentity }] = await Promise.all([import('../replica.ts'), import('../identity.ts')])
    const identity = nodeIdentity(this.#c.keyPair)
    const now = (): number => kernel.ledger.get(kernel.ledger.size - 1)?.tick ?? 0
    const grants = createKernelGrantBook({ grants: () => kernel.grants(), now, issuer: this.#c.keyPair.publicKey }, this.#c.shared)
    const replica = createFederationReplica({
      identity,
      grants,
      ledger: this.ledger,
      clock: { now: () => this.#tick ?? now() },
      ...(this.#c.storage !== undefined ? { storage: typeof this.#c.storage === 'function' ? this.#c.storage() : this.#c.storage } : {})
    }, this.#init)
    this.#replica = replica
    return { identity, replica }
  }

  async close (): Promise<void> {
    if (this.#opening !== undefined) await this.#opening.catch(() => undefined)
    try {
      if (this.#ledger !== undefined) await this.#ledger.flush()
    } finally {
      this.#replica?.close()
    }
  }
}

/**
 * Federation for a kernel-backed node.
 *
 * @example
 * const federation = createKernelFederation({ keyPair, storage: () => createFileStorage(dataDir) })
 * const kernel = await createKernel({ storage }, { genesis, descriptors: federation.descriptors })
 * federation.attach(kernel)
 * const { replica } = await federation.open()
 */
export function createKernelFederation (components: KernelFederationComponents): KernelFederation {
  return new DefaultKernelFederation(components)
}
