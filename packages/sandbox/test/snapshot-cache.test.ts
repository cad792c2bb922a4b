import { describe, expect, it } from 'vitest'
import { snapshotFileName } from '../src/snapshot-cache.ts'
import { pyodideVersion } from '../src/paths.ts'

describe('snapshotFileName()', () => {
  it('snapshotFileName() is stable and names the Pyodide version', () => {
    expect(snapshotFileName()).toBe(snapshotFileName())
    expect(snapshotFileName()).toMatch(new RegExp(`^pyodide-${pyodideVersion().replace(/\./g, '\\.')}-[0-9a-f]{16}\\.snap$`))
  })
})
