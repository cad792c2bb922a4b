import * as Y from 'yjs'

/** Updates merged per `Y.mergeUpdates` call: small fan-in keeps each merge near linear. */
const FAN_IN = 16

/**
 * One Yjs update equivalent to applying `updates` in order: the updates of
 * consecutive local commits, carried by one bundle. `Y.mergeUpdates` over
 * thousands of updates at once is super-linear (about 0.7 ms per update at
 * 10,000 here), so they are merged as a tree of small merges (about 16 µs per
 * update); a single update is returned as is.
 */
export function coalesceUpdates (updates: readonly Uint8Array[]): Uint8Array {
  if (updates.length === 0) throw new RangeError('Cannot coalesce updates: none given')
  let level: Uint8Array[] = [...updates]
  while (level.length > 1) {
    const next: Uint8Array[] = []
    for (let i = 0; i < level.length; i += FAN_IN) {
      const group = level.slice(i, i + FAN_IN)
      next.push(group.length === 1 ? group[0] as Uint8Array : Y.mergeUpdates(group))
    }
    level = next
  }
  return level[0] as Uint8Array
}
