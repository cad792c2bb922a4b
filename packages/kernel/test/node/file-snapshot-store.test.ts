import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { buildSnapshotRecord, createState, isKernelError } from '../../src/index.ts'
import { createFileSnapshotStore } from '../../node/index.ts'

const dirs: string[] = []
afterEach(async () => { for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }) })

async function tempDir (): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'os2-fss-'))
  dirs.push(dir)
  return dir
}

function record (id: string): ReturnType<typeof buildSnapshotRecord> {
  const root = createState().set('kv/n', 'k', id)
  return buildSnapshotRecord(root, { id, label: id, parent: null, stateHash: root.hash(), eventSeq: 1, timestamp: 2, ledgerSeq: 3, ledgerHead: 'a'.repeat(64) })
}

describe('createFileSnapshotStore()', () => {
  it('`put()` writes <id>.json atomically and `get()` reads it back verified', async () => {
    const dir = join(await tempDir(), 'snapshots')
    const store = createFileSnapshotStore(dir)
    expect(await store.list()).toEqual([])
    await store.put(record('s-2'))
    await store.put(record('s-1'))
    expect(await readdir(dir)).toEqual(expect.arrayContaining(['s-1.json', 's-2.json']))
    expect((await readdir(dir)).some(n => n.includes('.tmp-'))).toBe(false)
    expect(await store.list()).toEqual(['s-1', 's-2'])
    expect(await store.get('s-1')).toEqual(record('s-1'))
    expect(await store.get('missing')).toBeUndefined()
    expect(await store.has('s-2')).toBe(true)
  })

  it('`setReady()` and `ready()` keep one ready flag beside the records', async () => {
    const store = createFileSnapshotStore(await tempDir())
    expect(await store.ready()).toBeNull()
    await store.put(record('s-1'))
    await store.setReady('s-1')
    expect(await store.ready()).toBe('s-1')
    expect(await store.list()).toEqual(['s-1'])
  })

  it('`get()` throws SNAPSHOT_CORRUPT for an edited or unparsable file and rejects path-like ids', async () => {
    const dir = await tempDir()
    const store = createFileSnapshotStore(dir)
    await store.put(record('s-1'))
    await writeFile(join(dir, 's-1.json'), JSON.stringify({ ...record('s-1'), ledgerSeq: 4 }))
    expect(isKernelError(await store.get('s-1').catch(e => e), 'SNAPSHOT_CORRUPT')).toBe(true)
    await writeFile(join(dir, 's-1.json'), '{"half":')
    expect(isKernelError(await store.get('s-1').catch(e => e), 'SNAPSHOT_CORRUPT')).toBe(true)
    expect(isKernelError(await store.get('../etc/passwd').catch(e => e), 'UNKNOWN_SNAPSHOT')).toBe(true)
  })
})
