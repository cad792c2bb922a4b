import type { CapabilityLimit } from '../kernel-types.ts'

/** A token bucket's level at a tick; refilled lazily by elapsed ticks. */
export interface BucketState { level: number, tick: number }

/** The bucket refilled up to `tick`. A fresh bucket starts full. */
export function refillBucket (rate: NonNullable<CapabilityLimit['rateLimit']>, bucket: BucketState | undefined, tick: number): BucketState {
  if (bucket === undefined) return { level: rate.capacity, tick }
  const elapsed = Math.max(0, tick - bucket.tick)
  return { level: Math.min(rate.capacity, bucket.level + elapsed * rate.refillPerTick), tick: Math.max(tick, bucket.tick) }
}

/** Takes one invocation from the bucket at `tick`; undefined when it is empty. */
export function takeFromBucket (rate: NonNullable<CapabilityLimit['rateLimit']>, bucket: BucketState | undefined, tick: number): BucketState | undefined {
  const refilled = refillBucket(rate, bucket, tick)
  if (refilled.level < 1) return undefined
  return { level: refilled.level - 1, tick: refilled.tick }
}
