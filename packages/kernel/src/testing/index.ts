/**
 * @packageDocumentation
 * Test helpers for kernels: a deterministic genesis, a kernel on in-memory
 * storage, a fake wall clock, and shorthands for grants and tokens.
 *
 * @example
 * ```ts
 * import { createTestKernel, grant } from '@os2/kernel/testing'
 * const { kernel } = await createTestKernel({ seed: 1 })
 * await grant(kernel, 'agent', 'kernel.state.put')
 * ```
 */
import type { CanonicalValue } from '@os2/crypto'
import { createKernel } from '../kernel.ts'
import type { KernelComponents, KernelHandle } from '../kernel.ts'
import { createGenesis } from '../limits.ts'
import { createMemoryLedgerStorage } from '../ledger/index.ts'
import type { MemoryLedgerStorage } from '../ledger/index.ts'
import type { Genesis, KernelLimits } from '../kernel-types.ts'
import type { GrantScope, KernelResponse, KernelTokenInput } from '../protocol/schemas.ts'
import type { AnyCapabilityDescriptor } from '../capabilities/types.ts'
import type { WallClock } from '../scheduler/token-run.ts'

export { snapshotStoreConformance } from './snapshot-store-conformance.ts'
export type { ConformanceHarness } from './snapshot-store-conformance.ts'

export interface TestKernelOptions {
  seed?: string | number
  limits?: Partial<KernelLimits>
  capabilities?: Genesis['capabilities']
  descriptors?: readonly AnyCapabilityDescriptor[]
  components?: Omit<KernelComponents, 'storage'>
  storage?: MemoryLedgerStorage
}

/** A genesis with the default limits, overridable per field. */
export function testGenesis (options: Pick<TestKernelOptions, 'seed' | 'limits' | 'capabilities'> = {}): Genesis {
  const g = createGenesis({ seed: options.seed ?? 'test-seed', operator: 'operator' })
  return { ...g, limits: { ...g.limits, ...options.limits }, capabilities: { ...g.capabilities, ...options.capabilities } }
}

/** A kernel on in-memory ledger storage. */
export async function createTestKernel (options: TestKernelOptions = {}): Promise<{ kernel: KernelHandle, storage: MemoryLedgerStorage, genesis: Genesis }> {
  const genesis = testGenesis(options)
  const storage = options.storage ?? createMemoryLedgerStorage()
  const kernel = await createKernel({ ...options.components, storage }, { genesis, ...(options.descriptors !== undefined ? { descriptors: options.descriptors } : {}) })
  return { kernel, storage, genesis }
}

/** Grants `capability` to `principal` as the operator; returns the grant id. */
export async function grant (kernel: KernelHandle, principal: string, capability: string, options: { scope?: GrantScope, validFrom?: number, validUntil?: number } = {}): Promise<string> {
  const res = await kernel.handle({ type: 'GrantCapability', grant: { principal, capability, ...options } })
  if (res.disposition !== 'accepted') throw new Error(`grant failed: ${res.error?.code ?? '?'} ${res.error?.message ?? ''}`)
  return (res.result as { grant: { id: string } }).grant.id
}

/** Submits a token (principal defaults to `agent`). */
export async function submit (kernel: KernelHandle, token: Omit<KernelTokenInput, 'principal'> & { principal?: string }): Promise<KernelResponse> {
  return await kernel.handle({ type: 'SubmitToken', token: { principal: 'agent', ...token } })
}

/** Event types of the ledger from `from` on, optionally only those of one token. */
export function eventTypes (kernel: KernelHandle, options: { tokenId?: string, from?: number } = {}): string[] {
  const out: string[] = []
  for (const e of kernel.ledger.events(options.from ?? 0)) {
    if (options.tokenId === undefined || e.token_id === options.tokenId) out.push(e.type)
  }
  return out
}

/** Payloads of the events of `type` (optionally of one token). */
export function eventPayloads (kernel: KernelHandle, type: string, tokenId?: string): Array<Record<string, CanonicalValue | undefined>> {
  const out: Array<Record<string, CanonicalValue | undefined>> = []
  for (const e of kernel.ledger.events()) {
    if (e.type === type && (tokenId === undefined || e.token_id === tokenId)) out.push({ ...e.payload })
  }
  return out
}

/** A wall clock that moves `stepMs` forward on every read. */
export function createFakeWallClock (stepMs: number, start = 0): WallClock & { reads: number } {
  let now = start
  const clock = {
    reads: 0,
    now (): number { clock.reads++; const t = now; now += stepMs; return t }
  }
  return clock
}
