import { z } from 'zod'

/** The federation protocol id. */
export const FEDERATION_PROTOCOL = '/os2/federation/1.0.0'

/** Frame type byte: the first byte of every length-prefixed frame. */
export const FRAME = {
  /** JSON `{ vector }`: the sender's per-origin sequence vector. */
  HELLO: 1,
  /** JSON `{ origin, from, max }`: send me bundles of `origin` from seq `from`. */
  WANT: 2,
  /** A `FederatedChange`, canonical JSON bytes. */
  BUNDLE: 3,
  /** A signed revocation, JSON bytes. */
  REVOCATION: 4,
  /** Empty: answer with a HELLO once every frame sent before this one is processed (group commit on the sender). */
  SYNC: 5
} as const

const Origin = z.string().min(1).max(128)
const Seq = z.int().min(0).max(Number.MAX_SAFE_INTEGER)

export const HelloSchema = z.strictObject({ vector: z.record(Origin, Seq).refine(v => Object.keys(v).length <= 100_000) })
export const WantSchema = z.strictObject({ origin: Origin, from: Seq.min(1), max: z.int().min(1).max(100_000) })
export type Hello = z.output<typeof HelloSchema>
export type Want = z.output<typeof WantSchema>

/** One frame: type byte then payload. */
export function encodeFrame (type: number, payload: Uint8Array | string): Uint8Array {
  const body = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload
  const out = new Uint8Array(body.length + 1)
  out[0] = type
  out.set(body, 1)
  return out
}

export type Frame =
  | { type: 'hello', hello: Hello }
  | { type: 'want', want: Want }
  | { type: 'bundle', bytes: Uint8Array }
  | { type: 'revocation', bytes: Uint8Array }
  | { type: 'sync' }

/** Decodes one frame; `undefined` when it is garbage (unknown type, bad JSON, bad shape). */
export function decodeFrame (frame: Uint8Array): Frame | undefined {
  if (frame.length === 0) return undefined
  const body = frame.subarray(1)
  const json = (): unknown => {
    try {
      return JSON.parse(Buffer.from(body).toString('utf8'))
    } catch {
      return undefined
    }
  }
  switch (frame[0]) {
    case FRAME.HELLO: {
      const r = HelloSchema.safeParse(json())
      return r.success ? { type: 'hello', hello: r.data } : undefined
    }
    case FRAME.WANT: {
      const r = WantSchema.safeParse(json())
      return r.success ? { type: 'want', want: r.data } : undefined
    }
    case FRAME.BUNDLE:
      return { type: 'bundle', bytes: body }
    case FRAME.REVOCATION:
      return { type: 'revocation', bytes: body }
    case FRAME.SYNC:
      return body.length === 0 ? { type: 'sync' } : undefined
    default:
      return undefined
  }
}
