import * as Y from 'yjs'
import { ROOT_NAME } from '../memory/memory-ref.ts'
import type { MemoryRef } from '../memory/memory-ref.ts'

/** What applying an update to a memory document would change. */
export interface TouchReport {
  /** Touch paths, sorted: `<ns>` for whole-memory changes, `<ns>/<key>` for kv and vector entries. */
  touches: string[]
  /** Why the update does not fit the memory's shape (other roots, nested types, deletions in an append-only log). */
  violations: string[]
  /** True when the update depends on changes the document has not seen. */
  pending: boolean
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event type
type AnyType = Y.AbstractType<any>
type Place = { root: string, key: string | null } | 'missing' | { violation: string }

/**
 * Reports what `update` would touch in `doc` without applying it: the update
 * is decoded, and every item's place (root type and top-level key) is read
 * from the update itself or from the item it is anchored to in `doc`. `doc`
 * is not changed. The invariant that makes this sound: accepted memory
 * documents hold one root type and no nested shared types, so every item sits
 * directly under a root, found through its parent name or its neighbours.
 *
 * @throws Error when the update cannot be decoded
 */
export function analyzeUpdate (doc: Y.Doc, ref: MemoryRef, update: Uint8Array): TouchReport {
  const { structs, ds } = Y.decodeUpdate(update)
  const expected = ROOT_NAME[ref.kind]
  const keyed = ref.kind === 'kv' || ref.kind === 'vector'
  const touches = new Set<string>()
  const violations = new Set<string>()
  let pending = false

  const local = new Map<number, Y.Item[]>()
  const minClock = new Map<number, number>()
  for (const s of structs) {
    const { client, clock } = s.id
    if (s instanceof Y.Skip) { pending = true; continue }
    if (!minClock.has(client) || clock < (minClock.get(client) as number)) minClock.set(client, clock)
    if (s instanceof Y.Item) {
      let list = local.get(client)
      if (list === undefined) local.set(client, list = [])
      list.push(s)
    } else {
      violations.add('carries collected content')
    }
  }
  for (const list of local.values()) list.sort((a, b) => a.id.clock - b.id.clock)
  for (const [client, clock] of minClock) if (clock > Y.getState(doc.store, client)) pending = true

  const names = new Map<AnyType, string>()
  for (const [name, type] of doc.share) names.set(type, name)

  const findLocal = (id: Y.ID): Y.Item | undefined => {
    const list = local.get(id.client)
    if (list === undefined) return undefined
    let lo = 0
    let hi = list.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      const it = list[mid] as Y.Item
      if (id.clock < it.id.clock) hi = mid - 1
      else if (id.clock >= it.id.clock + it.length) lo = mid + 1
      else return it
    }
    return undefined
  }

  const placeOfDocStruct = (id: Y.ID): Place => {
    if (id.clock >= Y.getState(doc.store, id.client)) return 'missing'
    const list = doc.store.clients.get(id.client)
    if (list === undefined) return 'missing'
    const s = list[Y.findIndexSS(list, id.clock)]
    if (!(s instanceof Y.Item)) return { violation: 'anchors on collected content' }
    const parent = s.parent as AnyType | null
    if (parent === null || parent._item !== null) return { violation: 'anchors inside a nested type' }
    return { root: names.get(parent) ?? '?', key: s.parentSub }
  }

  const memo = new Map<Y.Item, Place>()
  const placeOf = (item: Y.Item, depth: number): Place => {
    const known = memo.get(item)
    if (known !== undefined) return known
    let place: Place
    if (depth > 10_000) place = { violation: 'anchor chain too deep' }
    else if (typeof item.parent === 'string') place = { root: item.parent, key: item.parentSub }
    else if (item.parent !== null) place = { violation: 'nests under a shared type' }
    else {
      const anchor = item.origin ?? item.rightOrigin
      if (anchor === null) place = { violation: 'has no parent' }
      else {
        const inUpdate = findLocal(anchor)
        if (inUpdate === item) place = { violation: 'anchors on itself' }
        else if (inUpdate !== undefined) {
          memo.set(item, { violation: 'anchor cycle' })
          place = placeOf(inUpdate, depth + 1)
        } else place = placeOfDocStruct(anchor)
      }
    }
    memo.set(item, place)
    return place
  }

  const note = (place: Place): void => {
    if (place === 'missing') { pending = true; return }
    if ('violation' in place) { violations.add(place.violation); return }
    if (place.root !== expected) { violations.add(`touches root ${JSON.stringify(place.root)}`); return }
    if (!keyed) { touches.add(ref.namespace); return }
    if (place.key === null) violations.add('changes a list under a keyed root')
    else touches.add(`${ref.namespace}/${place.key}`)
  }

  for (const list of local.values()) {
    for (const item of list) {
      if (item.content instanceof Y.ContentType || item.content instanceof Y.ContentDoc) violations.add('nests a shared type')
      // Parts already integrated (a duplicate) change nothing.
      if (item.id.clock + item.length <= Y.getState(doc.store, item.id.client)) continue
      note(placeOf(item, 0))
    }
  }

  for (const [client, ranges] of ds.clients) {
    if (ranges.length === 0) continue
    if (ref.kind === 'episodic') { violations.add('deletes from an append-only log'); continue }
    const state = Y.getState(doc.store, client)
    const list = doc.store.clients.get(client)
    for (const { clock, len } of ranges) {
      for (let c = clock; c < clock + len;) {
        const inUpdate = findLocal(new Y.ID(client, c))
        if (inUpdate !== undefined) {
          note(placeOf(inUpdate, 0))
          c = inUpdate.id.clock + inUpdate.length
          continue
        }
        if (c >= state || list === undefined) { pending = true; break }
        const s = list[Y.findIndexSS(list, c)] as Y.Item | Y.GC
        if (s instanceof Y.Item && !s.deleted) note(placeOfDocStruct(s.id))
        c = s.id.clock + s.length
      }
    }
  }
  return { touches: [...touches].sort(), violations: [...violations].sort(), pending }
}
