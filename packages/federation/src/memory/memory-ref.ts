import { FederationError } from '../errors.ts'

/** The memory kinds: key/value, append-only episodic log, vectors with metadata, and shared text. */
export const MEMORY_KINDS = ['kv', 'episodic', 'vector', 'text'] as const
export type MemoryKind = typeof MEMORY_KINDS[number]

/** Identifies one memory: a kind and a namespace; its name is `<kind>:<namespace>`. */
export interface MemoryRef {
  readonly kind: MemoryKind
  readonly namespace: string
}

/** Name of the single Yjs root type each kind uses; anything else in an update is out of scope. */
export const ROOT_NAME: Readonly<Record<MemoryKind, string>> = {
  kv: 'kv',
  episodic: 'events',
  vector: 'vectors',
  text: 'text'
}

const NAMESPACE_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

/** True when `namespace` is a valid memory namespace (1-128 of `[A-Za-z0-9._-]`, not starting with a symbol). */
export function isValidNamespace (namespace: string): boolean {
  return NAMESPACE_RE.test(namespace)
}

/**
 * `<kind>:<namespace>` for a memory reference.
 *
 * @throws FederationError `MEMORY_INVALID` when the kind or namespace is invalid
 */
export function memoryName (ref: MemoryRef): string {
  if (!(MEMORY_KINDS as readonly string[]).includes(ref.kind) || !isValidNamespace(ref.namespace)) {
    throw new FederationError('MEMORY_INVALID', `Cannot name memory ${String(ref.kind)}:${ref.namespace}: invalid kind or namespace`)
  }
  return `${ref.kind}:${ref.namespace}`
}

/**
 * Parses `<kind>:<namespace>`.
 *
 * @throws FederationError `MEMORY_INVALID` when the name is not a valid memory name
 */
export function parseMemoryName (name: string): MemoryRef {
  const i = name.indexOf(':')
  const kind = name.slice(0, i)
  const namespace = name.slice(i + 1)
  if (i < 1 || !(MEMORY_KINDS as readonly string[]).includes(kind) || !isValidNamespace(namespace)) {
    throw new FederationError('MEMORY_INVALID', `Cannot parse memory name ${JSON.stringify(name.slice(0, 160))}: expected <kind>:<namespace>`)
  }
  return { kind: kind as MemoryKind, namespace }
}
