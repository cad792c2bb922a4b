import * as Y from 'yjs'

/** A Yjs delete set (the type is not exported by name). */
export type DeleteSet = ReturnType<typeof Y.createDeleteSet>

/** Updates merged per `Y.mergeUpdates` call: small fan-in keeps each merge near linear. */
const FAN_IN = 16

/**
 * One Yjs update equivalent to applying `updates` in order (the general
 * path). `Y.mergeUpdates` over thousands of updates at once is super-linear,
 * so they are merged as a tree of small merges; a single update is returned
 * as is.
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

/** A run of consecutive local transactions on one document: where it started and what it deleted. */
export interface LocalRun {
  /** The document's client id when the run started. */
  client: number
  /** The client's clock before the run's first transaction. */
  fromClock: number
  /** Each transaction's delete set. */
  deletes: DeleteSet[]
}

/**
 * The update of a run of local transactions, encoded straight from the
 * document (Yjs update v1): this client's structs from `fromClock` on, then
 * the union of the transactions' delete sets. Equal in effect to merging the
 * transactions' own updates, at the cost of writing the run's structs once
 * (`Y.mergeUpdates` decodes and re-encodes every update: 10,000 one-key
 * commits take ~1 s that way, a few ms this way).
 *
 * Only valid when every struct of `client` from `fromClock` on was made by
 * the run; `undefined` when the document cannot be encoded this way (its
 * client id changed, or it holds pending structs), so the caller merges.
 */
export function encodeLocalRun (doc: Y.Doc, run: LocalRun): Uint8Array | undefined {
  if (doc.clientID !== run.client || doc.store.pendingStructs !== null || doc.store.pendingDs !== null) return undefined
  const structs = doc.store.clients.get(run.client)
  const enc = new Y.UpdateEncoderV1()
  // In the v1 encoding the delete-set clock writer is a plain varuint: used for every count and clock below.
  const uint = (n: number): void => { enc.writeDsClock(n) }
  const first = structs?.[0]
  if (structs === undefined || first === undefined || Y.getState(doc.store, run.client) <= run.fromClock) {
    uint(0)
  } else {
    const clock = Math.max(run.fromClock, first.id.clock)
    const start = Y.findIndexSS(structs, clock)
    const head = structs[start] as Y.Item | Y.GC
    uint(1)
    uint(structs.length - start)
    enc.writeClient(run.client)
    uint(clock)
    head.write(enc, clock - head.id.clock)
    for (let i = start + 1; i < structs.length; i++) (structs[i] as Y.Item | Y.GC).write(enc, 0)
  }
  const ds = Y.mergeDeleteSets(run.deletes)
  const clients = [...ds.clients.entries()].filter(([, items]) => items.length > 0).sort((a, b) => b[0] - a[0])
  uint(clients.length)
  for (const [client, items] of clients) {
    uint(client)
    uint(items.length)
    for (const item of items) {
      enc.writeDsClock(item.clock)
      enc.writeDsLen(item.len)
    }
  }
  return enc.toUint8Array()
}
