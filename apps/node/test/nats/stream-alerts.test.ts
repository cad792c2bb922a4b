import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createStreamAlertRecorder } from '../../src/nats/stream-alerts.ts'
import type { StreamAlert } from '../../src/nats/index.ts'
import { workloadKernel } from '../helpers/workload.ts'

const logger = pino({ level: 'silent' })
const alert: StreamAlert = { node: 'x', reason: 'prev_hash_mismatch', seq: 4, streamSeq: 5, message: 'Event 4 prev_hash ffff does not link to abcd' }

describe('createStreamAlertRecorder()', () => {
  it('`record()` appends one `alert` event with the stream\'s fields only, once per stream message, also for a recorder opened later on the same ledger', async () => {
    const kernel = await workloadKernel()
    const components = { ledger: kernel.ledger, recordAlert: async (p: Parameters<typeof kernel.recordAlert>[0]) => await kernel.recordAlert(p), logger }
    const recorder = createStreamAlertRecorder(components, { cluster: 'c' })
    const size = kernel.ledger.size
    const results = await Promise.all([recorder.record(alert), recorder.record({ ...alert, reason: 'ledger_mismatch' })])
    expect(results).toEqual([true, false])
    expect(kernel.ledger.size).toBe(size + 1)
    const event = kernel.ledger.get(size)
    expect(event?.type).toBe('alert')
    expect(event?.payload).toEqual({ kind: 'stream_divergence', node: 'x', stream: 'OS2_c_x', reason: 'prev_hash_mismatch', seq: 4, stream_seq: 5, message: alert.message })
    // A restarted node (a new recorder) finds the alert in the ledger.
    const again = createStreamAlertRecorder(components, { cluster: 'c' })
    expect(await again.record(alert)).toBe(false)
    expect(await again.record({ ...alert, streamSeq: 6, seq: 5 })).toBe(true)
    expect(kernel.ledger.size).toBe(size + 2)
    expect(kernel.ledger.verify()).toMatchObject({ ok: true })
    await kernel.close()
  })
})
