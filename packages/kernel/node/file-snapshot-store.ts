import { mkdir, open, readdir, readFile, rename, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { canonicalize } from '@os2/crypto'
import { KernelError } from '../src/errors.ts'
import { checkSnapshotRecord } from '../src/snapshots/snapshot-record.ts'
import type { SnapshotRecord } from '../src/snapshots/snapshot-record.ts'
import type { SnapshotStore } from '../src/snapshots/snapshot-store.ts'

const READY_FILE = 'ready.json'
const ID = /^[A-Za-z0-9._:@-]+$/

async function writeAtomic (path: string, content: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(content)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

function checkId (id: string): void {
  if (!ID.test(id) || id === READY_FILE) throw new KernelError('UNKNOWN_SNAPSHOT', `Unknown snapshot ${id}: not a valid snapshot id`)
}

class FileSnapshotStore implements SnapshotStore {
  readonly #dir: string
  #made = false
  constructor (dir: string) { this.#dir = dir }

  async #ensure (): Promise<void> {
    if (this.#made) return
    await mkdir(this.#dir, { recursive: true })
    this.#made = true
  }

  async put (record: SnapshotRecord): Promise<void> {
    checkId(record.id)
    await this.#ensure()
    await writeAtomic(join(this.#dir, `${record.id}.json`), canonicalize(record) + '\n')
  }

  async get (id: string): Promise<SnapshotRecord | undefined> {
    checkId(id)
    let text: string
    try {
      text = await readFile(join(this.#dir, `${id}.json`), 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new KernelError('DATA_DIR_UNREADABLE', `Cannot read snapshot ${id}: ${(err as Error).message}`, { cause: err })
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new KernelError('SNAPSHOT_CORRUPT', `Cannot parse snapshot ${id}: ${(err as Error).message}`, { cause: err })
    }
    return checkSnapshotRecord(parsed)
  }

  async has (id: string): Promise<boolean> {
    return (await this.list()).includes(id)
  }

  async list (): Promise<string[]> {
    let names: string[]
    try {
      names = await readdir(this.#dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw new KernelError('DATA_DIR_UNREADABLE', `Cannot list snapshots: ${(err as Error).message}`, { cause: err })
    }
    return names.filter(n => n.endsWith('.json') && n !== READY_FILE).map(n => n.slice(0, -5)).sort()
  }

  async ready (): Promise<string | null> {
    try {
      const parsed = JSON.parse(await readFile(join(this.#dir, READY_FILE), 'utf8')) as { id?: unknown }
      return typeof parsed.id === 'string' ? parsed.id : null
    } catch {
      return null
    }
  }

  async setReady (id: string): Promise<void> {
    checkId(id)
    await this.#ensure()
    await writeAtomic(join(this.#dir, READY_FILE), canonicalize({ id }) + '\n')
  }

  /** Removes temp files left by a crash mid-write. */
  async sweep (): Promise<void> {
    for (const n of await readdir(this.#dir).catch(() => [] as string[])) {
      if (n.includes('.tmp-')) await unlink(join(this.#dir, n)).catch(() => undefined)
    }
  }
}

/**
 * Snapshot records as `<dir>/<id>.json` (usually `<data-dir>/snapshots`),
 * written atomically (temp file, fsync, rename); the ready flag is `<dir>/ready.json`.
 * Records are checked against their content hash on read.
 *
 * @example
 * const store = createFileSnapshotStore('/var/lib/os2/snapshots')
 */
export function createFileSnapshotStore (dir: string): SnapshotStore & { sweep(): Promise<void> } {
  return new FileSnapshotStore(dir)
}
