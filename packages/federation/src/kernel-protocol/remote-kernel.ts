import { createLedger } from '@os2/kernel'
import type { CanonicalValue } from '@os2/crypto'
import type {
  CapabilityInfo, EventEnvelope, Genesis, Grant, Kernel, KernelResponse, LedgerView, ReplayReport, SnapshotManager,
  SnapshotSummary, StateDiff, TokenStatus, VerifyResult
} from '@os2/kernel'
import type { KernelClient } from './dial-kernel.ts'
import { AttachError, MAX_EVENTS_PER_CALL } from './wire.ts'

/** The node's state as of the last refresh (the answer of `view`). */
export interface KernelViewResult {
  capabilities: CapabilityInfo[]
  grants: Grant[]
  tokens: TokenStatus[]
  kv: Array<{ namespace: string, key: string, value: CanonicalValue }>
  stateHash: string
  ledger: { size: number, head: string }
}

/** A `Kernel` whose work happens on an attached node. */
export interface RemoteKernel extends Kernel {
  readonly client: KernelClient
  /** The attached principal (the genesis operator when attached with an operator key). */
  readonly principal: string
  readonly isOperator: boolean
  /** Pulls the node's state and the ledger events appended since the last refresh. */
  refresh(): Promise<void>
  /** Called with every event the mirror receives, in ledger order (Python output, for one). */
  onEvent(listener: ((event: EventEnvelope) => void) | undefined): void
  /** Verifies the node's ledger on the node. */
  verifyOnNode(): Promise<VerifyResult>
  /** Re-executes the node's ledger from genesis on the node. */
  replayOnNode(): Promise<ReplayReport>
}

/**
 * Wraps an attached session as a `Kernel`, so shell commands run unchanged.
 * Reads (`capabilities()`, `tokens()`, `ledger.get()`…) answer from a mirror
 * refreshed after every call that can change the node; the mirrored ledger is
 * rebuilt event by event and every event must hash exactly as the node says
 * (`LEDGER_MISMATCH` otherwise), so proofs and roots are computed locally on
 * verified data.
 *
 * A non-operator session rewrites requests that name the operator by default
 * (`from`, a token's `principal`) to the attached principal, because the node
 * refuses anything else.
 */
export async function createRemoteKernel (client: KernelClient): Promise<RemoteKernel> {
  const kernel = new Remote(client)
  await kernel.refresh()
  return kernel
}

class Remote implements RemoteKernel {
  readonly client: KernelClient
  readonly genesis: Genesis
  readonly principal: string
  readonly isOperator: boolean
  readonly #mirror = createLedger()
  #view: KernelViewResult | undefined
  #listener: ((event: EventEnvelope) => void) | undefined
  readonly snapshots: SnapshotManager

  constructor (client: KernelClient) {
    this.client = client
    this.genesis = client.hello.genesis
    this.principal = client.hello.principal
    this.isOperator = client.hello.operator
    const call = client.call.bind(client)
    const after = async <T>(p: Promise<T>): Promise<T> => { const r = await p; await this.refresh(); return r }
    this.snapshots = {
      create: async (label?: string): Promise<SnapshotSummary> => {
        const res = await after(call<KernelResponse>('snapshotCreate', label === undefined ? {} : { label }))
        if (res.disposition === 'rejected') throw new AttachError(res.error?.code ?? 'OP_FAILED', res.error?.message ?? 'Snapshot rejected')
        const list = await call<SnapshotSummary[]>('snapshotList')
        const made = list.at(-1)
        if (made === undefined) throw new AttachError('OP_FAILED', 'The node listed no snapshot after creating one')
        return made
      },
      list: async () => await call<SnapshotSummary[]>('snapshotList'),
      show: async (id: string) => await call<SnapshotSummary & { state: CanonicalValue }>('snapshotShow', { id }),
      diff: async (from: string, to: string) => await call<StateDiff>('snapshotDiff', { from, to }),
      replay: async (id: string) => await after(call<ReplayReport>('snapshotReplay', { id })),
      auth: async (id: string) => await call<string>('snapshotAuth', { id }),
      setReady: async (id: string) => { await after(call('snapshotReady', { id })) }
    }
  }

  get ledger (): LedgerView { return this.#mirror }

  onEvent (listener: ((event: EventEnvelope) => void) | undefined): void { this.#listener = listener }

  async refresh (): Promise<void> {
    for (;;) {
      const from = this.#mirror.size
      const page = await this.client.call<{ events: EventEnvelope[], size: number }>('events', { from, limit: MAX_EVENTS_PER_CALL })
      for (const event of page.events) {
        const made = this.#mirror.append({ tick: event.tick, type: event.type, capability_id: event.capability_id, token_id: event.token_id, payload: event.payload })
        if (made.hash !== event.hash || made.seq !== event.seq) {
          throw new AttachError('LEDGER_MISMATCH', `Event ${event.seq} from the node hashes to ${made.hash}, the node says ${event.hash}`)
        }
        this.#listener?.(made)
      }
      if (page.events.length === 0 || this.#mirror.size >= page.size) break
    }
    this.#view = await this.client.call<KernelViewResult>('view')
  }

  #state (): KernelViewResult {
    if (this.#view === undefined) throw new AttachError('OP_FAILED', 'The attached kernel has not been read yet')
    return this.#view
  }

  #asPrincipal (request: unknown): unknown {
    if (this.isOperator || typeof request !== 'object' || request === null) return request
    const req = { ...(request as Record<string, unknown>) }
    if (req.from === undefined || req.from === this.genesis.operator) req.from = this.principal
    const token = req.token
    if (req.type === 'SubmitToken' && typeof token === 'object' && token !== null && (token as { principal?: unknown }).principal === this.genesis.operator) {
      req.token = { ...(token as Record<string, unknown>), principal: this.principal }
    }
    return req
  }

  async handle (request: unknown): Promise<KernelResponse> {
    const res = await this.client.call<KernelResponse>('handle', { request: this.#asPrincipal(request) })
    await this.refresh()
    return res
  }

  async step (): Promise<boolean> {
    const ran = await this.client.call<boolean>('step')
    await this.refresh()
    return ran
  }

  async runUntilIdle (): Promise<number> {
    const steps = await this.client.call<number>('runUntilIdle')
    await this.refresh()
    return steps
  }

  capabilities (): CapabilityInfo[] { return this.#state().capabilities }
  grants (): Grant[] { return this.#state().grants }
  token (id: string): TokenStatus | undefined { return this.#state().tokens.find(t => t.token.id === id) }
  tokens (): TokenStatus[] { return this.#state().tokens }
  kv (namespace?: string): Array<{ namespace: string, key: string, value: CanonicalValue }> {
    const all = this.#state().kv
    return namespace === undefined ? all : all.filter(e => e.namespace === namespace)
  }

  stateHash (): string { return this.#state().stateHash }

  async verifyOnNode (): Promise<VerifyResult> { return await this.client.call<VerifyResult>('verify') }
  async replayOnNode (): Promise<ReplayReport> { return await this.client.call<ReplayReport>('replayLedger') }

  async close (): Promise<void> {
    await this.client.close()
  }
}
