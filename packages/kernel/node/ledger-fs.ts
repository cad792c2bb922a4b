import { mkdir, open, readdir, readFile, stat, truncate } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'

/** A file opened for appending. `write` writes every byte; `datasync` makes them durable. */
export interface LedgerFile {
  write(data: Uint8Array): Promise<void>
  datasync(): Promise<void>
  close(): Promise<void>
}

/**
 * The few file-system calls the file ledger storage makes, injectable so tests
 * can count syncs or fail a write.
 */
export interface LedgerFs {
  mkdir(path: string): Promise<void>
  /** True when `path` exists (file or directory). */
  exists(path: string): Promise<boolean>
  /** File names in `path`; an empty list when it does not exist. */
  readdir(path: string): Promise<string[]>
  /** The file's bytes, or undefined when it does not exist. */
  readFile(path: string): Promise<Uint8Array | undefined>
  openAppend(path: string): Promise<LedgerFile>
  truncate(path: string, length: number): Promise<void>
  /** fsync of a directory, so a newly created file's entry is durable. */
  syncDir(path: string): Promise<void>
}

class NodeLedgerFile implements LedgerFile {
  readonly #handle: FileHandle
  constructor (handle: FileHandle) { this.#handle = handle }

  async write (data: Uint8Array): Promise<void> {
    let offset = 0
    while (offset < data.length) {
      const { bytesWritten } = await this.#handle.write(data, offset, data.length - offset)
      offset += bytesWritten
    }
  }

  async datasync (): Promise<void> { await this.#handle.datasync() }
  async close (): Promise<void> { await this.#handle.close() }
}

function isNotFound (err: unknown): boolean {
  return (err as { code?: unknown }).code === 'ENOENT'
}

/** The real file system (node:fs/promises). */
export const nodeLedgerFs: LedgerFs = {
  async mkdir (path) { await mkdir(path, { recursive: true }) },
  async exists (path) {
    try {
      await stat(path)
      return true
    } catch (err) {
      if (isNotFound(err)) return false
      throw err
    }
  },
  async readdir (path) {
    try {
      return await readdir(path)
    } catch (err) {
      if (isNotFound(err)) return []
      throw err
    }
  },
  async readFile (path) {
    try {
      return await readFile(path)
    } catch (err) {
      if (isNotFound(err)) return undefined
      throw err
    }
  },
  async openAppend (path) { return new NodeLedgerFile(await open(path, 'a', 0o644)) },
  async truncate (path, length) {
    await truncate(path, length)
    const handle = await open(path, 'r+')
    try {
      await handle.datasync()
    } finally {
      await handle.close()
    }
  },
  async syncDir (path) {
    const handle = await open(path, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  }
}
