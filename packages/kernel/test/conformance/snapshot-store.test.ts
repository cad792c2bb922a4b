import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { createMemorySnapshotStore } from '../../src/index.ts'
import { createFileSnapshotStore } from '../../node/index.ts'
import { snapshotStoreConformance } from '../../src/testing/index.ts'

snapshotStoreConformance({ describe, it, expect }, { name: 'memory', setup: async () => createMemorySnapshotStore() })

let dir = ''
snapshotStoreConformance({ describe, it, expect }, {
  name: 'file',
  setup: async () => { dir = await mkdtemp(join(tmpdir(), 'os2-conf-')); return createFileSnapshotStore(join(dir, 'snapshots')) },
  teardown: async () => { await rm(dir, { recursive: true, force: true }) }
})
