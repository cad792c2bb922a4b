import type { CanonicalValue } from '@os2/crypto'
import type { PersistentMap } from '../state/persistent-map.ts'
import type { StateRoot } from '../state/kernel-state.ts'
import { effectivePriority, QUEUE_SECTION, tokenState } from './scheduler.ts'
import type { PickedToken, QueueEntry } from './scheduler.ts'

interface Item { id: string, entry: QueueEntry }

/**
 * An index over the `queue` section that picks the next token without scanning
 * the whole queue: one FIFO per base priority, in submission order. Within one
 * priority the oldest runnable token has waited longest (tokens are queued in
 * submission order and the clock only moves forward), so it has the highest
 * effective priority and the lowest order of its bucket; the pick compares
 * only the first runnable token of each bucket. Same result as `pickNext`, in
 * O(priorities + blocked tokens skipped).
 *
 * The index is a cache of kernel state: when the queue section it reflects is
 * not the state's (a restored or rebuilt state), it is rebuilt from the state.
 */
export class RunQueue {
  readonly #buckets = new Map<number, Item[]>()
  /** Queued tokens by the tokens they run after (for failure cascades without a queue scan). */
  readonly #waiting = new Map<string, Map<string, Item>>()
  #synced: PersistentMap<CanonicalValue> | undefined

  #rebuild (state: StateRoot): void {
    this.#buckets.clear()
    this.#waiting.clear()
    const items: Item[] = []
    for (const [id, raw] of state.section(QUEUE_SECTION)) items.push({ id, entry: raw as unknown as QueueEntry })
    items.sort((a, b) => a.entry.order - b.entry.order)
    for (const item of items) {
      this.#bucket(item.entry.priority).push(item)
      this.#wait(item)
    }
    this.#synced = state.section(QUEUE_SECTION)
  }

  #wait (item: Item): void {
    for (const dep of item.entry.after) {
      let w = this.#waiting.get(dep)
      if (w === undefined) { w = new Map(); this.#waiting.set(dep, w) }
      w.set(item.id, item)
    }
  }

  #unwait (id: string, entry: QueueEntry): void {
    for (const dep of entry.after) {
      const w = this.#waiting.get(dep)
      if (w === undefined) continue
      w.delete(id)
      if (w.size === 0) this.#waiting.delete(dep)
    }
  }

  /** Queued tokens that (directly) run after `id`, in submission order: what `dependentsOf` returns, without scanning the queue. */
  dependents (state: StateRoot, id: string): string[] {
    if (this.#synced !== state.section(QUEUE_SECTION)) this.#rebuild(state)
    const w = this.#waiting.get(id)
    if (w === undefined) return []
    return [...w.values()].sort((a, b) => a.entry.order - b.entry.order).map(item => item.id)
  }

  #bucket (priority: number): Item[] {
    let b = this.#buckets.get(priority)
    if (b === undefined) { b = []; this.#buckets.set(priority, b) }
    return b
  }

  /** Queues `id` in `state` and in the index; returns the new state. */
  add (state: StateRoot, id: string, entry: QueueEntry): StateRoot {
    if (this.#synced !== state.section(QUEUE_SECTION)) this.#rebuild(state)
    const next = state.set(QUEUE_SECTION, id, entry as unknown as CanonicalValue)
    const item = { id, entry }
    this.#bucket(entry.priority).push(item)
    this.#wait(item)
    this.#synced = next.section(QUEUE_SECTION)
    return next
  }

  /** Removes `id` from `state` and the index (no-op when not queued); returns the new state. */
  remove (state: StateRoot, id: string): StateRoot {
    const raw = state.get(QUEUE_SECTION, id)
    if (raw === undefined) return state
    if (this.#synced !== state.section(QUEUE_SECTION)) this.#rebuild(state)
    const entry = raw as unknown as QueueEntry
    this.#unwait(id, entry)
    const bucket = this.#buckets.get(entry.priority)
    if (bucket !== undefined) {
      // The picked token is the first of its bucket: shift() drops it in O(1) (V8 trims the array's front).
      const at = bucket[0]?.id === id ? 0 : bucket.findIndex(item => item.id === id)
      if (at === 0) bucket.shift()
      else if (at > 0) bucket.splice(at, 1)
      if (bucket.length === 0) this.#buckets.delete(entry.priority)
    }
    const next = state.delete(QUEUE_SECTION, id)
    this.#synced = next.section(QUEUE_SECTION)
    return next
  }

  /** The next runnable token (see `pickNext` for the policy). */
  pick (state: StateRoot, tick: number, agingTicks: number): PickedToken | undefined {
    if (this.#synced !== state.section(QUEUE_SECTION)) this.#rebuild(state)
    let best: { item: Item, eff: number } | undefined
    for (const bucket of this.#buckets.values()) {
      for (const item of bucket) {
        if (!item.entry.after.every(dep => tokenState(state, dep) === 'completed')) continue
        const eff = effectivePriority(item.entry, tick, agingTicks)
        if (best === undefined || eff > best.eff || (eff === best.eff && item.entry.order < best.item.entry.order)) best = { item, eff }
        break
      }
    }
    if (best === undefined) return undefined
    return { id: best.item.id, effectivePriority: best.eff, waited: Math.max(0, tick - best.item.entry.since) }
  }
}
