import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { createNodeMetrics } from '../src/metrics.ts'
import { workloadKernel, writeSome } from './helpers/workload.ts'

function value (text: string, series: string): number {
  const line = text.split('\n').find(l => l.startsWith(series + ' '))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

describe('createNodeMetrics()', () => {
  it('`observe()` counts tokens, requests, violations and latency from ledger events', async () => {
    const kernel = await workloadKernel()
    await writeSome(kernel, 4)
    await kernel.handle({ type: 'SubmitToken', token: { id: 'bad', capability: 'kernel.state.put', principal: 'mallory', args: { namespace: 'n', key: 'k', value: 1 } } })
    await kernel.runUntilIdle()
    await kernel.handle({ type: 'SubmitToken', token: { id: 'x' } })
    const logged: unknown[] = []
    const logger = pino({ level: 'info' }, { write: (s: string) => { logged.push(JSON.parse(s)) } })
    const metrics = createNodeMetrics({ ledgerSize: () => kernel.ledger.size, natsLag: () => 3, natsPublished: () => undefined, federationPeers: () => 2 }, logger)
    for (const e of kernel.ledger.events()) metrics.observe(e)
    metrics.snapshotDuration(0.02)
    const text = await metrics.registry.metrics()
    expect(value(text, 'os2_tokens_total{outcome="completed"}')).toBe(4)
    expect(value(text, 'os2_requests_total{outcome="rejected"}')).toBe(1)
    expect(value(text, 'os2_capability_latency_ticks_count{capability="kernel.state.put"}')).toBe(4)
    expect(value(text, 'os2_snapshot_duration_seconds_count')).toBe(1)
    expect(value(text, 'os2_nats_publish_lag')).toBe(3)
    expect(value(text, 'os2_federation_peers')).toBe(2)
    expect(value(text, 'os2_ledger_size')).toBe(kernel.ledger.size)
    expect(text).toMatch(/^os2_capability_violations_total\{reason="[a-z_]+"\} 1$/m)
    expect(logged.some(l => (l as { alert?: string }).alert === 'capability_violation')).toBe(true)
    await kernel.close()
  })

  it('`observe()` counts federation verdicts by verdict and reason and logs rejections as policy breaches', () => {
    const logged: Array<Record<string, unknown>> = []
    const metrics = createNodeMetrics({ ledgerSize: () => 0, natsLag: () => undefined, natsPublished: () => undefined, federationPeers: () => 0 }, pino({}, { write: (s: string) => { logged.push(JSON.parse(s) as Record<string, unknown>) } }))
    const base = { event_id: 'ev-1', seq: 1, tick: 0, capability_id: null, token_id: null, prev_hash: '0'.repeat(64), hash: '1'.repeat(64) }
    metrics.observe({ ...base, type: 'federation.verdict', payload: { verdict: 'accepted', reason: 'OK' } })
    metrics.observe({ ...base, type: 'federation.verdict', payload: { verdict: 'rejected', reason: 'OUT_OF_SCOPE', origin: 'p' } })
    return metrics.registry.metrics().then(text => {
      expect(value(text, 'os2_federation_verdicts_total{verdict="accepted",reason="OK"}')).toBe(1)
      expect(value(text, 'os2_federation_verdicts_total{verdict="rejected",reason="OUT_OF_SCOPE"}')).toBe(1)
      expect(value(text, 'os2_alerts_total{kind="policy_breach"}')).toBe(1)
      expect(logged.find(l => l.alert === 'policy_breach')).toMatchObject({ reason: 'OUT_OF_SCOPE' })
    })
  })
})
