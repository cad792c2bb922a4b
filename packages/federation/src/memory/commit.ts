import { hashCanonical, sha256Hex } from '@os2/crypto'

/**
 * One versioned change of one memory: the Yjs update it applied, its parents
 * (the memory's head before it), who wrote it and at which tick. The id is the
 * canonical hash of everything but the update bytes, which enter through their hash.
 */
export interface Commit {
  id: string
  memory: string
  parents: string[]
  author: string
  tick: number
  updateHash: string
}

/** A commit with the update bytes it applied. */
export interface CommitRecord extends Commit {
  update: Uint8Array
}

/** Builds a commit and computes its id. */
export function createCommit (fields: { memory: string, parents: string[], author: string, tick: number, update: Uint8Array }): CommitRecord {
  const updateHash = sha256Hex(fields.update)
  const body = { memory: fields.memory, parents: fields.parents, author: fields.author, tick: fields.tick, update_hash: updateHash }
  return { id: hashCanonical(body), memory: fields.memory, parents: [...fields.parents], author: fields.author, tick: fields.tick, updateHash, update: fields.update }
}
