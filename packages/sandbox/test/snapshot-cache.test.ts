import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { checkSnapshotDir, defaultSnapshotDir, ensureSnapshot, snapshotFileName } from '../src/snapshot-cache.ts'
import { pyodideVersion } from '../src/paths.ts'

describe('snapshotFileName()', () => {
  it('snapshotFileName() is stable and names the Pyodide version', () => {
    expect(snapshotFileName()).toBe(snapshotFileName())
    expect(snapshotFileName()).toMatch(new RegExp(`^pyodide-${pyodideVersion().replace(/\./g, '\\.')}-[0-9a-f]{16}\\.snap$`))
  })
})

describe('the snapshot folder must be private: sessions run what it holds', () => {
  const root = mkdtempSync(join(tmpdir(), 'os2-snapdir-'))
  afterAll(() => { rmSync(root, { recursive: true, force: true }) })

  it('the default folder is per user', () => {
    expect(defaultSnapshotDir()).toBe(join(tmpdir(), `os2-sandbox-snapshots-${process.getuid?.() ?? 'user'}`))
  })

  it('a private folder is accepted', () => {
    const dir = join(root, 'private')
    mkdirSync(dir, { mode: 0o700 })
    expect(() => { checkSnapshotDir(dir) }).not.toThrow()
  })

  it('a folder others can write to is refused before anything is spawned', async () => {
    const dir = join(root, 'shared')
    mkdirSync(dir)
    chmodSync(dir, 0o777)
    expect(() => { checkSnapshotDir(dir) }).toThrow(expect.objectContaining({ code: 'SNAPSHOT_DIR_UNSAFE', message: expect.stringContaining('others can write to it (mode 777)') }))
    await expect(ensureSnapshot(dir)).rejects.toMatchObject({ code: 'SNAPSHOT_DIR_UNSAFE' })
  })

  it('a symbolic link (to a folder someone else controls) is refused', async () => {
    const target = join(root, 'elsewhere')
    mkdirSync(target, { mode: 0o700 })
    const link = join(root, 'link')
    symlinkSync(target, link)
    expect(() => { checkSnapshotDir(link) }).toThrow(expect.objectContaining({ code: 'SNAPSHOT_DIR_UNSAFE', message: expect.stringContaining('symbolic link') }))
    await expect(ensureSnapshot(link)).rejects.toMatchObject({ code: 'SNAPSHOT_DIR_UNSAFE' })
  })

  it('a file in place of the folder is refused', () => {
    const file = join(root, 'file')
    writeFileSync(file, 'x')
    expect(() => { checkSnapshotDir(file) }).toThrow(expect.objectContaining({ code: 'SNAPSHOT_DIR_UNSAFE', message: expect.stringContaining('not a folder') }))
  })

  // Changing a folder's owner needs root; CI runs as root.
  it.runIf(process.getuid?.() === 0)('a folder another user owns is refused, even when only they can write to it', () => {
    const dir = join(root, 'theirs')
    mkdirSync(dir, { mode: 0o700 })
    chownSync(dir, 65534, 65534)
    expect(() => { checkSnapshotDir(dir) }).toThrow(expect.objectContaining({ code: 'SNAPSHOT_DIR_UNSAFE', message: expect.stringContaining('belongs to uid 65534') }))
  })
})
