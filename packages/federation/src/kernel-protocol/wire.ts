import { z } from 'zod'

/** The kernel protocol id: a shell attached to a node speaks it over libp2p. */
export const KERNEL_PROTOCOL = '/os2/kernel/1.0.0'

/** Largest request frame a node reads (bytes); a longer length prefix closes the stream. */
export const DEFAULT_MAX_REQUEST_FRAME = 1024 * 1024
/** Largest response frame a shell reads (bytes). */
export const DEFAULT_MAX_RESPONSE_FRAME = 32 * 1024 * 1024
/** Most ledger events one `events` call returns. */
export const MAX_EVENTS_PER_CALL = 2048

/** The capability a non-operator principal needs to attach. */
export const ATTACH_CAPABILITY = 'operator.attach'

/**
 * Stable error codes of the kernel protocol (the `error.code` of a failed
 * response). Kernel request rejections travel inside a successful `handle`
 * response as `KernelResponse.error`, with the kernel's own codes.
 */
export const ATTACH_ERROR_CODES = {
  /** The frame is not a JSON object `{ id, op, args? }`. */
  BAD_FRAME: 'BAD_FRAME',
  /** The frame's length prefix exceeds the limit; the stream is closed after this answer. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** `op` names no operation. */
  UNKNOWN_OP: 'UNKNOWN_OP',
  /** `args` do not match the operation's schema. */
  BAD_ARGS: 'BAD_ARGS',
  /** The attached principal holds no valid `operator.attach` grant; the stream is closed. */
  ATTACH_DENIED: 'ATTACH_DENIED',
  /** A request names another principal than the attached one. */
  PRINCIPAL_MISMATCH: 'PRINCIPAL_MISMATCH',
  /** Only the node operator may do this (sign, flag ready). */
  OPERATOR_ONLY: 'OPERATOR_ONLY',
  /** The operation failed on the node; the message says why. */
  OP_FAILED: 'OP_FAILED',
  /** The connection or stream closed before the answer came. */
  CONNECTION_CLOSED: 'CONNECTION_CLOSED',
  /** The node answered something the shell cannot read. */
  BAD_RESPONSE: 'BAD_RESPONSE',
  /** An event received from the node does not hash as the node says (the mirror diverged). */
  LEDGER_MISMATCH: 'LEDGER_MISMATCH'
} as const

export type AttachErrorCode = keyof typeof ATTACH_ERROR_CODES

/** An error of the kernel protocol, with a stable code. */
export class AttachError extends Error {
  readonly code: AttachErrorCode | string
  constructor (code: AttachErrorCode | string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AttachError'
    this.code = code
  }
}

const SnapshotId = z.string().min(1).max(256)
const Empty = z.strictObject({}).optional()

/** Argument schemas by operation. Every frame's `args` is checked against one of these. */
export const OP_ARGS = {
  hello: Empty,
  handle: z.strictObject({ request: z.unknown() }),
  step: Empty,
  runUntilIdle: Empty,
  view: Empty,
  events: z.strictObject({ from: z.int().min(0), limit: z.int().min(1).max(MAX_EVENTS_PER_CALL).optional() }),
  verify: Empty,
  replayLedger: Empty,
  snapshotCreate: z.strictObject({ label: z.string().max(128).optional() }),
  snapshotList: Empty,
  snapshotShow: z.strictObject({ id: SnapshotId }),
  snapshotDiff: z.strictObject({ from: SnapshotId, to: SnapshotId }),
  snapshotReplay: z.strictObject({ id: SnapshotId }),
  snapshotAuth: z.strictObject({ id: SnapshotId }),
  snapshotReady: z.strictObject({ id: SnapshotId }),
  ping: Empty
} as const

export type KernelOp = keyof typeof OP_ARGS
export const KERNEL_OPS = Object.keys(OP_ARGS) as KernelOp[]

/** A request frame. */
export const RequestFrame = z.strictObject({
  id: z.int().min(0).max(Number.MAX_SAFE_INTEGER),
  op: z.string().min(1).max(64),
  args: z.unknown().optional()
})
export type RequestFrame = z.output<typeof RequestFrame>

/** A response frame: `id` is null when the request could not be read far enough to know it. */
export type ResponseFrame =
  | { id: number | null, ok: true, result: unknown }
  | { id: number | null, ok: false, error: { code: string, message: string } }

export const ResponseFrameSchema = z.union([
  z.strictObject({ id: z.int().nullable(), ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ id: z.int().nullable(), ok: z.literal(false), error: z.strictObject({ code: z.string(), message: z.string() }) })
])

/** Encodes a frame as UTF-8 JSON (payloads are plain JSON values; hashes are computed elsewhere, canonically). */
export function encodeJsonFrame (value: unknown): Uint8Array {
  return Buffer.from(JSON.stringify(value), 'utf8')
}
