import { z } from 'zod'

/** Identifiers: short, printable, no separators that could confuse paths or subjects. */
// One pattern carries the length too: one check per id instead of three (ids are checked on every request and replayed event).
export const Id = z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'must be 1-128 chars of A-Z a-z 0-9 . _ : @ -')
export const CapabilityId = z.string().max(64).regex(/^[a-z][a-z0-9]*(\.[a-z][a-z0-9]*)*$/, 'must be dotted lower-case, e.g. kernel.state.put')
const Count = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)

export const Budget = z.strictObject({
  tokens: Count.optional(),
  memory: Count.optional(),
  network: Count.optional(),
  wallClockMs: Count.optional()
})

export const KernelToken = z.strictObject({
  id: Id,
  capability: CapabilityId,
  args: z.unknown().default({}),
  priority: z.number().int().min(0).max(1000).default(0),
  after: z.array(Id).max(64).default([]),
  budget: Budget.default({}),
  principal: Id,
  tag: z.string().max(128).optional()
})

export const GrantScope = z.strictObject({
  /** Host allow-list for network capabilities (exact host or `*.suffix`). */
  hosts: z.array(z.string().min(1).max(253)).max(256).optional(),
  /** Path prefix for file-like capabilities. */
  pathPrefix: z.string().max(1024).optional(),
  /** Namespaces for state and memory capabilities (`*` = all). */
  namespaces: z.array(z.string().min(1).max(128)).max(256).optional()
})

export const GrantSpec = z.strictObject({
  principal: Id,
  capability: CapabilityId,
  scope: GrantScope.default({}),
  /** Validity window in ticks, inclusive start, exclusive end. */
  validFrom: Count.optional(),
  validUntil: Count.optional()
})

const base = { from: Id.optional() }

export const SubmitToken = z.strictObject({ type: z.literal('SubmitToken'), ...base, token: KernelToken })
export const CancelToken = z.strictObject({ type: z.literal('CancelToken'), ...base, tokenId: Id, reason: z.string().max(256).optional() })
export const CreateSnapshot = z.strictObject({ type: z.literal('CreateSnapshot'), ...base, label: z.string().max(128).optional() })
export const ListSnapshots = z.strictObject({ type: z.literal('ListSnapshots'), ...base })
export const GrantCapability = z.strictObject({ type: z.literal('GrantCapability'), ...base, grant: GrantSpec })
export const RevokeCapability = z.strictObject({ type: z.literal('RevokeCapability'), ...base, grantId: Id, reason: z.string().max(256).optional() })
export const StreamEvents = z.strictObject({ type: z.literal('StreamEvents'), ...base, since: Count.default(0), limit: z.number().int().positive().max(100_000).optional() })
export const ReplaySnapshot = z.strictObject({ type: z.literal('ReplaySnapshot'), ...base, snapshotId: Id })

export const KernelRequest = z.discriminatedUnion('type', [
  SubmitToken, CancelToken, CreateSnapshot, ListSnapshots, GrantCapability, RevokeCapability, StreamEvents, ReplaySnapshot
])

export const REQUEST_TYPES = ['SubmitToken', 'CancelToken', 'CreateSnapshot', 'ListSnapshots', 'GrantCapability', 'RevokeCapability', 'StreamEvents', 'ReplaySnapshot'] as const

export const KernelResponse = z.strictObject({
  disposition: z.enum(['accepted', 'rejected', 'queued']),
  ledgerSeq: z.number().int().min(-1),
  ledgerHash: z.string(),
  result: z.unknown().optional(),
  error: z.strictObject({ code: z.string(), message: z.string() }).optional()
})

export type KernelTokenInput = z.input<typeof KernelToken>
export type KernelToken = z.output<typeof KernelToken>
export type Budget = z.output<typeof Budget>
export type GrantScope = z.output<typeof GrantScope>
export type GrantSpec = z.output<typeof GrantSpec>
export type KernelRequestInput = z.input<typeof KernelRequest>
export type KernelRequest = z.output<typeof KernelRequest>
export type KernelResponse = z.output<typeof KernelResponse>
export type RequestType = typeof REQUEST_TYPES[number]
