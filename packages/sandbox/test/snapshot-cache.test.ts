import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { checkSnapshotDir, defaultSnapshotDir, ensureSnapshot, pruneStaleSnapshots, snapshotFileName, STALE_SNAPSHOT_MS } from '../src/snapshot-cache.ts'
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

describe('pruneStaleSnapshots()', () => {
  it('removes the sets of other versions unused for a week, keeps recent ones, the current set and other files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'os2-prune-'))
    try {
      const now = Date.now()
      const set = (base: string, ageMs: number): void => {
        for (const ext of ['snap', 'jscache', 'wasmcache']) {
          const f = join(dir, `${base}.${ext}`)
          writeFileSync(f, 'x')
          const t = (now - ageMs) / 1000
          utimesSync(f, t, t)
        }
      }
      set('pyodide-1.0.0-aaaaaaaaaaaaaaaa', STALE_SNAPSHOT_MS + 60_000) // stale
      writeFileSync(join(dir, 'pyodide-1.0.0-aaaaaaaaaaaaaaaa.snap.4242.tmp'), 'x') // a killed maker's leftover
      utimesSync(join(dir, 'pyodide-1.0.0-aaaaaaaaaaaaaaaa.snap.4242.tmp'), 0, 0)
      set('pyodide-1.0.0-bbbbbbbbbbbbbbbb', STALE_SNAPSHOT_MS - 60_000) // used within the week
      set('pyodide-1.0.0-cccccccccccccccc', 10 * STALE_SNAPSHOT_MS) // the current one, however old
      // A stale set of which one file was read recently is in use.
      set('pyodide-1.0.0-dddddddddddddddd', STALE_SNAPSHOT_MS + 60_000)
      utimesSync(join(dir, 'pyodide-1.0.0-dddddddddddddddd.snap'), now / 1000, (now - STALE_SNAPSHOT_MS - 60_000) / 1000)
      writeFileSync(join(dir, 'notes.txt'), 'kept')
      utimesSync(join(dir, 'notes.txt'), 0, 0)
      const removed = pruneStaleSnapshots(join(dir, 'pyodide-1.0.0-cccccccccccccccc.snap'), now)
      expect(removed).toEqual(['pyodide-1.0.0-aaaaaaaaaaaaaaaa.jscache', 'pyodide-1.0.0-aaaaaaaaaaaaaaaa.snap', 'pyodide-1.0.0-aaaaaaaaaaaaaaaa.snap.4242.tmp', 'pyodide-1.0.0-aaaaaaaaaaaaaaaa.wasmcache'])
      expect(readdirSync(dir).sort()).toEqual([
        'notes.txt',
        ...['b', 'c', 'd'].flatMap((c) => ['jscache', 'snap', 'wasmcache'].map((ext) => `pyodide-1.0.0-${c.repeat(16)}.${ext}`))
      ])
      expect(existsSync(join(dir, 'pyodide-1.0.0-aaaaaaaaaaaaaaaa.snap'))).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
