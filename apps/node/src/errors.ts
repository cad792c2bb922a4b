/** Stable error codes of the node daemon; only ever added, never renamed. */
export const NODE_ERROR_CODES = {
  CONFIG_INVALID: 'The node configuration is missing a field or holds a bad value',
  CONFIG_UNREADABLE: 'The node configuration file cannot be read or is not TOML',
  NATS_UNAVAILABLE: 'No NATS server could be reached',
  STREAM_DIVERGED: 'A published event stream does not match the hash chain',
  START_FAILED: 'A daemon component failed to start'
} as const

export type NodeErrorCode = keyof typeof NODE_ERROR_CODES

/** The error the daemon throws; `field` names the config field at fault when there is one. */
export class NodeError extends Error {
  readonly code: NodeErrorCode
  readonly field: string | undefined
  constructor (code: NodeErrorCode, message: string, options?: ErrorOptions & { field?: string }) {
    super(message, options)
    this.name = 'NodeError'
    this.code = code
    this.field = options?.field
  }
}
