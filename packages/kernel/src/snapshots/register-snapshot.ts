import type { CanonicalValue } from '@os2/crypto'
import type { StateRoot } from '../state/kernel-state.ts'

export const SNAPSHOT_SECTION = 'snapshot'
export const META_SECTION = 'meta'

/** The snapshot metadata kept in kernel state (the rest lives in the snapshot record). */
export interface SnapshotMeta {
  id: string
  label: string
  parent: string | null
  stateHash: string
  eventSeq: number
}

/** Number of snapshots taken so far, per kernel state. */
export function snapshotCount (state: StateRoot): number {
  const n = state.get(META_SECTION, 'snapshots')
  return typeof n === 'number' ? n : 0
}

export function lastSnapshotId (state: StateRoot): string | null {
  const id = state.get(META_SECTION, 'lastSnapshot')
  return typeof id === 'string' ? id : null
}

/** The deterministic id of the next snapshot of `state`. */
export function nextSnapshotId (state: StateRoot): string {
  return `snap-${snapshotCount(state) + 1}-${state.hash().slice(0, 8)}`
}

/**
 * What taking a snapshot does to kernel state after capturing `captured`:
 * reset the dirty set (the next snapshot's delta starts here) and record the
 * snapshot's metadata. Restoring a snapshot applies the same function, so a
 * restored kernel is in exactly the state the live one was.
 */
export function registerSnapshot (captured: StateRoot, meta: SnapshotMeta): StateRoot {
  return captured.clearDirty()
    .set(SNAPSHOT_SECTION, meta.id, meta as unknown as CanonicalValue)
    .set(META_SECTION, 'snapshots', snapshotCount(captured) + 1)
    .set(META_SECTION, 'lastSnapshot', meta.id)
}
