/**
 * Ledger event types written by the kernel. Inputs (`request`,
 * `request_rejected`, `alert`) are what replay feeds back in; everything else
 * is a consequence replay must reproduce hash for hash.
 */
export const EVENT_TYPES = {
  genesis: 'genesis',
  request: 'request',
  requestRejected: 'request_rejected',
  alert: 'alert',
  grantCreated: 'grant_created',
  grantRevoked: 'grant_revoked',
  scheduled: 'scheduled',
  started: 'started',
  custom: 'custom',
  externalResult: 'external_result',
  snapshotCreated: 'snapshot_created',
  completed: 'completed',
  failed: 'failed',
  cancelled: 'cancelled',
  /** A running token stopped by a CancelToken at a metering point (carries the request: an input recorded mid-step). */
  interrupt: 'interrupt',
  capabilityViolation: 'capability_violation',
  resourceBudgetExceeded: 'resource_budget_exceeded'
} as const

export type KernelEventType = typeof EVENT_TYPES[keyof typeof EVENT_TYPES]

/** Event types that are inputs to the kernel rather than consequences of one. */
export const INPUT_EVENT_TYPES: ReadonlySet<string> = new Set([EVENT_TYPES.request, EVENT_TYPES.requestRejected, EVENT_TYPES.alert])

const RECORDED_TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/

/**
 * True for a dotted event type (`federation.verdict`, `memory.commit`):
 * events that components outside the kernel append through
 * `KernelHandle.record`. No kernel event type has a dot, so they never
 * collide; replay treats them as inputs and re-appends them as recorded.
 */
export function isRecordedEventType (type: string): boolean {
  return type.length <= 64 && RECORDED_TYPE.test(type)
}

/** True for an input event: a kernel input type or a recorded component event. */
export function isInputEventType (type: string): boolean {
  return INPUT_EVENT_TYPES.has(type) || isRecordedEventType(type)
}
