import { hashCanonical } from '@os2/crypto'
import type { CanonicalValue } from '@os2/crypto'
import { KernelError } from '../errors.ts'
import { createState } from '../state/kernel-state.ts'
import type { StateChange, StateRoot } from '../state/kernel-state.ts'

export const SNAPSHOT_FORMAT_VERSION = 1

/**
 * A snapshot as stored (`<data-dir>/snapshots/<id>.json`): the delta since the
 * parent snapshot rather than the whole state, so storing one costs
 * O(changes). `state` = `{ parent, changes }`; materialise by walking the
 * parent chain. `contentHash` = hashCanonical(record without contentHash).
 */
export interface SnapshotRecord {
  version: 1
  id: string
  label: string
  /** Virtual tick when the unit of work that took the snapshot finished. */
  timestamp: number
  /** Seq and hash of the last ledger event of the request or step that took the snapshot. */
  ledgerSeq: number
  ledgerHead: string
  /** Incremental state hash of the captured state. */
  stateHash: string
  /** Seq of the `snapshot_created` event. */
  eventSeq: number
  state: { parent: string | null, changes: StateChange[] }
  contentHash: string
}

export type SnapshotRecordDraft = Omit<SnapshotRecord, 'contentHash' | 'version' | 'state'> & { parent: string | null }

/** Builds the record for `root` (the delta is its entries dirtied since the parent snapshot): O(changes). */
export function buildSnapshotRecord (root: StateRoot, draft: SnapshotRecordDraft): SnapshotRecord {
  const body = {
    version: SNAPSHOT_FORMAT_VERSION as 1,
    id: draft.id,
    label: draft.label,
    timestamp: draft.timestamp,
    ledgerSeq: draft.ledgerSeq,
    ledgerHead: draft.ledgerHead,
    stateHash: draft.stateHash,
    eventSeq: draft.eventSeq,
    state: { parent: draft.parent, changes: root.dirtyChanges() }
  }
  return { ...body, contentHash: snapshotContentHash(body) }
}

export function snapshotContentHash (record: Omit<SnapshotRecord, 'contentHash'>): string {
  return hashCanonical(record as unknown as CanonicalValue)
}

/**
 * Checks a record loaded from a store.
 *
 * @throws KernelError `SNAPSHOT_VERSION` or `SNAPSHOT_CORRUPT`
 */
export function checkSnapshotRecord (record: unknown): SnapshotRecord {
  if (typeof record !== 'object' || record === null) throw new KernelError('SNAPSHOT_CORRUPT', 'Cannot load snapshot: not an object')
  const r = record as Partial<SnapshotRecord>
  if (r.version !== SNAPSHOT_FORMAT_VERSION) throw new KernelError('SNAPSHOT_VERSION', `Cannot load snapshot ${String(r.id)}: format version ${String(r.version)} is not supported`)
  const { contentHash, ...body } = r as SnapshotRecord
  let actual: string
  try {
    actual = snapshotContentHash(body)
  } catch (err) {
    throw new KernelError('SNAPSHOT_CORRUPT', `Cannot load snapshot ${String(r.id)}: content is not canonical JSON`, { cause: err })
  }
  if (actual !== contentHash) throw new KernelError('SNAPSHOT_CORRUPT', `Cannot load snapshot ${String(r.id)}: content hash ${actual} does not match ${String(contentHash)}`)
  return r as SnapshotRecord
}

/**
 * Rebuilds the state of `record` by applying the deltas of its parent chain,
 * oldest first. `load` fetches a record by id; `cached` short-cuts at any
 * ancestor already materialised.
 *
 * @throws KernelError `UNKNOWN_SNAPSHOT` when an ancestor is missing, `SNAPSHOT_CORRUPT` when the result does not hash to `stateHash`
 */
export async function materializeSnapshot (
  record: SnapshotRecord,
  load: (id: string) => Promise<SnapshotRecord | undefined>,
  cached: (id: string) => StateRoot | undefined = () => undefined
): Promise<StateRoot> {
  const chain: SnapshotRecord[] = [record]
  let base: StateRoot | undefined
  let cursor = record.state.parent
  while (cursor !== null) {
    const hit = cached(cursor)
    if (hit !== undefined) { base = hit; break }
    const parent = await load(cursor)
    if (parent === undefined) throw new KernelError('UNKNOWN_SNAPSHOT', `Cannot materialise snapshot ${record.id}: ancestor ${cursor} is missing`)
    chain.push(parent)
    cursor = parent.state.parent
  }
  let root = base ?? createState()
  for (let i = chain.length - 1; i >= 0; i--) {
    const r = chain[i] as SnapshotRecord
    root = root.apply(r.state.changes)
    if (root.hash() !== r.stateHash) {
      throw new KernelError('SNAPSHOT_CORRUPT', `Cannot materialise snapshot ${r.id}: state hash ${root.hash()} does not match ${r.stateHash}`)
    }
  }
  return root.clearDirty()
}
