import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { describeIsolation } from '../src/index.ts'

describe('describeIsolation()', () => {
  it('describeIsolation() reports the permission model and empty environment on Node 20+', () => {
    const report = describeIsolation()
    expect(report.permissionModel).toBe(true)
    expect(report.emptyEnvironment).toBe(true)
    expect(report.node).toBe(process.version)
  })

  it('describeIsolation() returns a launcher exactly when a network namespace is available', () => {
    const { networkNamespace } = describeIsolation()
    expect(networkNamespace.available).toBe(networkNamespace.launcher !== null)
    if (networkNamespace.launcher !== null) expect(existsSync(networkNamespace.launcher[0] ?? '')).toBe(true)
    else expect(describeIsolation().notes.join(' ')).toContain('No network namespace')
  })

  it('describeIsolation() polls RSS when /proc is there', () => {
    expect(describeIsolation().memoryLimit).toBe(existsSync('/proc/self/status') ? 'rss-poll' : 'unavailable')
  })

  it('describeIsolation() is cached', () => {
    expect(describeIsolation()).toBe(describeIsolation())
  })
})
