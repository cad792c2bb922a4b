import * as Y from 'yjs'
import { ROOT_NAME } from '../memory/memory-ref.ts'
import type { MemoryRef } from '../memory/memory-ref.ts'

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Yjs types are invariant in their event type
type AnyType = Y.AbstractType<any>

/** What applying an update to a memory document would change. */
export interface TouchReport {
  /** Touch paths, sorted: `<ns>` for whole-memory changes, `<ns>/<key>` for kv and vector entries. */
  touches: string[]
  /** Why the update does not fit the memory's shape (other roots, wrong structure, deletions in an append-only log). */
  violations: string[]
  /** True when the update depends on changes this document has not seen. */
  pending: boolean
}

function rootNameOf (doc: Y.Doc, type: AnyType): string {
  for (const [name, t] of doc.share) if (t === type) return name
  return '?'
}

/**
 * Applies `update` to `scratch` (a clone of the memory's current document, which
 * it changes) and reports every key or namespace the update touched.
 *
 * @throws Error when the update cannot be decoded
 */
export function applyAndReport (scratch: Y.Doc, ref: MemoryRef, update: Uint8Array): TouchReport {
  const touches = new Set<string>()
  const violations = new Set<string>()
  const expected = ROOT_NAME[ref.kind]
  const keyed = ref.kind === 'kv' || ref.kind === 'vector'
  const onTx = (tr: Y.Transaction): void => {
    for (const [type, keys] of tr.changed) {
      let top: AnyType = type
      let topKey: string | null = null
      let nested = false
      while (top._item !== null) {
        nested = true
        topKey = top._item.parentSub
        top = top._item.parent as AnyType
      }
      const root = rootNameOf(scratch, top)
      if (root !== expected) {
        violations.add(`touches root ${JSON.stringify(root)}`)
        continue
      }
      if (!keyed) {
        if (nested) violations.add('nests a shared type')
        touches.add(ref.namespace)
        continue
      }
      if (nested) {
        if (topKey === null) violations.add('changes a list under a keyed root')
        else touches.add(`${ref.namespace}/${topKey}`)
        continue
      }
      for (const k of keys) {
        if (k === null) violations.add('changes a list under a keyed root')
        else touches.add(`${ref.namespace}/${k}`)
      }
    }
    if (ref.kind === 'episodic' && tr.deleteSet.clients.size > 0) violations.add('deletes from an append-only log')
  }
  scratch.on('afterTransaction', onTx)
  try {
    Y.applyUpdate(scratch, update, 'policy')
  } finally {
    scratch.off('afterTransaction', onTx)
  }
  const pending = scratch.store.pendingStructs !== null || scratch.store.pendingDs !== null
  return { touches: [...touches].sort(), violations: [...violations].sort(), pending }
}
