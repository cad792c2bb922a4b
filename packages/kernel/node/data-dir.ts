import { unlinkSync } from 'node:fs'
import { access, constants, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { canonicalize, generateKeyPair, hashCanonical, loadKeyPair, saveKeyPair } from '@os2/crypto'
import type { KeyPair } from '@os2/crypto'
import { KernelError } from '../src/errors.ts'
import { createKernel } from '../src/kernel.ts'
import type { KernelHandle, KernelInit } from '../src/kernel.ts'
import type { Genesis } from '../src/kernel-types.ts'
import { createGenesis, parseGenesis } from '../src/limits.ts'
import { createFileLedgerStorage } from './file-ledger-storage.ts'
import { createFileSnapshotStore } from './file-snapshot-store.ts'

/**
 * The data dir layout (DESIGN.md "Data dir"):
 *
 * ```
 * <dir>/node.key        Ed25519 private key, PKCS#8 PEM, mode 0600
 * <dir>/node.pub        the public key, base64url (for offline verification)
 * <dir>/genesis.json    canonical JSON of the Genesis (written last: its presence marks the dir initialised)
 * <dir>/ledger/         append-only ledger segments
 * <dir>/snapshots/      <id>.json SnapshotState records
 * <dir>/memories/       Yjs state per memory namespace
 * <dir>/logs/           shell transcripts, <timestamp>.jsonl
 * <dir>/lock            present while a process has the kernel open (see {@link lockDataDir})
 * ```
 */
export interface DataDirPaths {
  root: string
  key: string
  publicKey: string
  genesis: string
  ledger: string
  snapshots: string
  memories: string
  logs: string
  /** Held (O_EXCL, holder pid inside) while a kernel has the data dir open. */
  lock: string
}

/** The paths of every entry of the data dir at `dir`. */
export function dataDirPaths (dir: string): DataDirPaths {
  return {
    root: dir,
    key: join(dir, 'node.key'),
    publicKey: join(dir, 'node.pub'),
    genesis: join(dir, 'genesis.json'),
    ledger: join(dir, 'ledger'),
    snapshots: join(dir, 'snapshots'),
    memories: join(dir, 'memories'),
    logs: join(dir, 'logs'),
    lock: join(dir, 'lock')
  }
}

export interface InitDataDirOptions {
  /** Genesis seed; different seeds give different ledgers. */
  seed: string | number
  /** Text of a CapabilityLimits.toml; default: the built-in defaults (same as docs/CapabilityLimits.toml). */
  limitsToml?: string
  /**
   * The operator principal recorded in the genesis (default `operator`). It is a
   * name, not the node key id, so that the genesis, and with it the whole
   * ledger, is a pure function of seed and limits: two data dirs made from the
   * same seed produce byte-identical ledgers although their node keys differ.
   */
  operator?: string
}

export interface InitializedDataDir {
  paths: DataDirPaths
  genesis: Genesis
  /** `hashCanonical(genesis)`. */
  genesisHash: string
  /** Node public key, base64url. */
  publicKey: string
}

/** The genesis, key and paths of an existing data dir. */
export interface LoadedDataDir {
  paths: DataDirPaths
  genesis: Genesis
  genesisHash: string
  signer: KeyPair
}

function errnoOf (err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

function unreadable (dir: string, what: string, err: unknown): KernelError {
  return new KernelError('DATA_DIR_UNREADABLE', `Cannot use data dir ${dir}: ${what} (${errnoOf(err) ?? (err as Error).message})`, { cause: err })
}

async function writeFileAtomic (path: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const handle = await open(tmp, 'w', mode)
  try {
    await handle.writeFile(text)
    await handle.sync()
  } catch (err) {
    await handle.close()
    await unlink(tmp).catch(() => undefined)
    throw err
  }
  await handle.close()
  await rename(tmp, path)
}

async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return false
    throw err
  }
}

/**
 * Creates a data dir: node key (0600), public key, empty `ledger/`,
 * `snapshots/`, `memories/`, `logs/`, and `genesis.json` last. Refuses to touch
 * an existing data dir.
 *
 * @throws KernelError `DATA_DIR_EXISTS` when `dir` already holds a genesis or a key,
 * `DATA_DIR_UNREADABLE` when `dir` is not a directory or cannot be written,
 * `CONFIG_INVALID` when `limitsToml` is invalid
 * @example
 * const { genesis, publicKey } = await initDataDir('/var/lib/os2', { seed: 42 })
 */
export async function initDataDir (dir: string, options: InitDataDirOptions): Promise<InitializedDataDir> {
  const paths = dataDirPaths(dir)
  const genesisInit: Parameters<typeof createGenesis>[0] = { seed: options.seed }
  if (options.operator !== undefined) genesisInit.operator = options.operator
  if (options.limitsToml !== undefined) genesisInit.limits = options.limitsToml
  const genesis = parseGenesis(createGenesis(genesisInit))
  try {
    const info = await stat(dir).catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT') return undefined
      throw err
    })
    if (info !== undefined && !info.isDirectory()) throw new KernelError('DATA_DIR_UNREADABLE', `Cannot create data dir ${dir}: a file is in the way`)
    for (const path of [paths.genesis, paths.key]) {
      if (await exists(path)) throw new KernelError('DATA_DIR_EXISTS', `Cannot create data dir ${dir}: it is already initialised (${path} exists)`)
    }
    await mkdir(dir, { recursive: true, mode: 0o700 })
    for (const sub of [paths.ledger, paths.snapshots, paths.memories, paths.logs]) await mkdir(sub, { recursive: true })
    const keyPair = generateKeyPair()
    await saveKeyPair(paths.key, keyPair)
    await writeFileAtomic(paths.publicKey, keyPair.publicKey + '\n')
    await writeFileAtomic(paths.genesis, canonicalize(genesis) + '\n')
    return { paths, genesis, genesisHash: hashCanonical(genesis), publicKey: keyPair.publicKey }
  } catch (err) {
    if (err instanceof KernelError) throw err
    throw unreadable(dir, 'cannot create its files', err)
  }
}

/**
 * Checks that `dir` is an initialised, usable data dir and returns its paths.
 *
 * @throws KernelError `DATA_DIR_MISSING` when `dir` or its genesis.json does not exist,
 * `DATA_DIR_UNREADABLE` when it is not a directory, lacks permissions, or genesis.json is not a file
 */
export async function checkDataDir (dir: string): Promise<DataDirPaths> {
  const paths = dataDirPaths(dir)
  let info
  try {
    info = await stat(dir)
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new KernelError('DATA_DIR_MISSING', `Data dir ${dir} does not exist: run os2 init first`, { cause: err })
    throw unreadable(dir, 'cannot stat it', err)
  }
  if (!info.isDirectory()) throw new KernelError('DATA_DIR_UNREADABLE', `Cannot use data dir ${dir}: it is not a directory`)
  try {
    await access(dir, constants.R_OK | constants.W_OK | constants.X_OK)
  } catch (err) {
    throw unreadable(dir, 'no read/write permission', err)
  }
  let genesisInfo
  try {
    genesisInfo = await stat(paths.genesis)
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new KernelError('DATA_DIR_MISSING', `Data dir ${dir} is not initialised (no genesis.json): run os2 init first`, { cause: err })
    throw unreadable(dir, 'cannot stat genesis.json', err)
  }
  if (!genesisInfo.isFile()) throw new KernelError('DATA_DIR_UNREADABLE', `Cannot use data dir ${dir}: genesis.json is not a regular file`)
  return paths
}

/**
 * Reads and validates `genesis.json`.
 *
 * @throws KernelError `DATA_DIR_MISSING`, `DATA_DIR_UNREADABLE` (see {@link checkDataDir}),
 * `GENESIS_INVALID` when the file is not valid JSON or not a valid genesis
 */
export async function readGenesis (dir: string): Promise<Genesis> {
  const paths = await checkDataDir(dir)
  let text: string
  try {
    text = await readFile(paths.genesis, 'utf8')
  } catch (err) {
    throw unreadable(dir, 'cannot read genesis.json', err)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new KernelError('GENESIS_INVALID', `Cannot load genesis ${paths.genesis}: not valid JSON`, { cause: err })
  }
  return parseGenesis(raw)
}

/**
 * Reads the node's public key (base64url) from `node.pub`, or derives it from
 * `node.key` when `node.pub` is absent.
 *
 * @throws KernelError `DATA_DIR_MISSING` / `DATA_DIR_UNREADABLE` as {@link checkDataDir}
 */
export async function readDataDirPublicKey (dir: string): Promise<string> {
  const paths = await checkDataDir(dir)
  try {
    return (await readFile(paths.publicKey, 'utf8')).trim()
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw unreadable(dir, 'cannot read node.pub', err)
  }
  return (await loadSigner(dir, paths)).publicKey
}

async function loadSigner (dir: string, paths: DataDirPaths): Promise<KeyPair> {
  try {
    return await loadKeyPair(paths.key)
  } catch (err) {
    // KEY_INVALID / KEY_FILE_PERMISSIONS keep their crypto codes; I/O errors mean the dir is unusable.
    if (err instanceof Error && err.name === 'CryptoError') throw err
    throw unreadable(dir, 'cannot read node.key', err)
  }
}

/**
 * Loads genesis and node key of an initialised data dir, without opening the ledger.
 *
 * @throws KernelError `DATA_DIR_MISSING`, `DATA_DIR_UNREADABLE`, `GENESIS_INVALID`;
 * CryptoError `KEY_FILE_PERMISSIONS` when node.key is readable by group or others
 */
export async function loadDataDir (dir: string): Promise<LoadedDataDir> {
  const genesis = await readGenesis(dir)
  const paths = dataDirPaths(dir)
  const signer = await loadSigner(dir, paths)
  return { paths, genesis, genesisHash: hashCanonical(genesis), signer }
}

/** A held data dir lock. */
export interface DataDirLock {
  readonly path: string
  /** Removes the lock file (idempotent). */
  release(): Promise<void>
}

export interface LockDataDirOptions {
  /** How long to wait for another process to release the lock (default 30 s). */
  timeoutMs?: number
}

const LOCK_POLL_MS = 50
/** A lock file that stays empty (its creator died before writing its pid) this long is stale. */
const EMPTY_LOCK_GRACE_MS = 2000

function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return errnoOf(err) === 'EPERM'
  }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}

/**
 * Takes the data dir's writer lock: `<dir>/lock`, created exclusively with the
 * holder's pid inside. Two processes appending to one ledger would fork its
 * hash chain, so every kernel opened on a data dir holds this lock until it
 * closes; a second process waits for it. A lock whose holder is no longer
 * alive (a crash, `kill -9`) is removed and taken over. Read-only tools
 * (`ledger-inspect`, `ledger-verify`) do not need it.
 *
 * @throws KernelError `DATA_DIR_LOCKED` when another live process (or this one)
 * still holds the lock after `timeoutMs`, `DATA_DIR_UNREADABLE` when the lock cannot be created
 * @example
 * const lock = await lockDataDir('/var/lib/os2')
 * try { … } finally { await lock.release() }
 */
export async function lockDataDir (dir: string, options: LockDataDirOptions = {}): Promise<DataDirLock> {
  const path = dataDirPaths(dir).lock
  const timeoutMs = options.timeoutMs ?? 30_000
  const started = Date.now()
  for (;;) {
    try {
      const handle = await open(path, 'wx', 0o644)
      try {
        await handle.writeFile(JSON.stringify({ pid: process.pid }) + '\n')
      } finally {
        await handle.close()
      }
      return heldLock(path)
    } catch (err) {
      if (errnoOf(err) !== 'EEXIST') throw unreadable(dir, 'cannot create its lock file', err)
    }
    let holder: number | undefined
    let age = 0
    try {
      const text = await readFile(path, 'utf8')
      const parsed = JSON.parse(text) as { pid?: unknown }
      if (typeof parsed.pid === 'number') holder = parsed.pid
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') continue
    }
    if (holder === undefined) {
      try {
        age = Date.now() - (await stat(path)).mtimeMs
      } catch {
        continue
      }
    }
    if (holder === process.pid) {
      throw new KernelError('DATA_DIR_LOCKED', `Cannot open data dir ${dir}: this process already has it open`)
    }
    const stale = holder === undefined ? age > EMPTY_LOCK_GRACE_MS : !pidAlive(holder)
    if (stale) {
      await unlink(path).catch(() => undefined)
      continue
    }
    if (Date.now() - started >= timeoutMs) {
      throw new KernelError('DATA_DIR_LOCKED', `Cannot open data dir ${dir}: process ${holder ?? '(starting)'} has it open (waited ${timeoutMs} ms)`, { details: { pid: holder ?? null } })
    }
    await sleep(LOCK_POLL_MS)
  }
}

function heldLock (path: string): DataDirLock {
  let held = true
  const onExit = (): void => {
    if (!held) return
    held = false
    try { unlinkSync(path) } catch { /* already gone */ }
  }
  process.once('exit', onExit)
  return {
    path,
    async release () {
      if (!held) return
      held = false
      process.removeListener('exit', onExit)
      await unlink(path).catch(() => undefined)
    }
  }
}

export interface OpenDataDirOptions {
  /** Extra capability descriptors (sandbox, federation) registered beside the built-ins. */
  descriptors?: KernelInit['descriptors']
  /** How long to wait for another process holding the data dir (default 30 s). */
  lockTimeoutMs?: number
}

/** A kernel running on a data dir, with the genesis and node key it was opened with. */
export interface OpenedDataDir extends LoadedDataDir {
  /** The kernel; `kernel.close()` flushes the ledger and releases the data dir lock. */
  kernel: KernelHandle
}

/**
 * Opens the kernel of a data dir: takes the data dir lock ({@link lockDataDir}),
 * then file ledger storage on `ledger/` (verified on open, a torn tail cut and
 * reported with an `alert` event), file snapshot store on `snapshots/`, the
 * node key as signer, and wall time for wall-clock budgets. Close it with
 * `kernel.close()`, which also releases the lock.
 *
 * @throws KernelError `DATA_DIR_MISSING`, `DATA_DIR_UNREADABLE`, `GENESIS_INVALID`
 * (also when the ledger was made from another genesis), `DATA_DIR_LOCKED`,
 * `LEDGER_CORRUPT` / `LEDGER_CHAIN_BROKEN` when the ledger does not verify, `REPLAY_DIVERGED`
 * @example
 * const { kernel } = await openDataDir('/var/lib/os2')
 * try { await kernel.handle(request) } finally { await kernel.close() }
 */
export async function openDataDir (dir: string, options: OpenDataDirOptions = {}): Promise<OpenedDataDir> {
  const loaded = await loadDataDir(dir)
  const { paths } = loaded
  const lock = await lockDataDir(dir, options.lockTimeoutMs !== undefined ? { timeoutMs: options.lockTimeoutMs } : {})
  try {
    for (const sub of [paths.ledger, paths.snapshots]) {
      try {
        await mkdir(sub, { recursive: true })
      } catch (err) {
        throw unreadable(dir, `cannot create ${sub}`, err)
      }
    }
    const init: KernelInit = { genesis: loaded.genesis }
    if (options.descriptors !== undefined) init.descriptors = options.descriptors
    const kernel = await createKernel({
      storage: createFileLedgerStorage(paths.ledger),
      snapshots: createFileSnapshotStore(paths.snapshots),
      signer: loaded.signer,
      wallClock: { now: () => Date.now() }
    }, init)
    const close = kernel.close.bind(kernel)
    kernel.close = async () => {
      try {
        await close()
      } finally {
        await lock.release()
      }
    }
    return { ...loaded, kernel }
  } catch (err) {
    await lock.release()
    throw err
  }
}
