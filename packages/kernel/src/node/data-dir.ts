import { access, constants, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises'
import { join } from 'node:path'
import { canonicalize, generateKeyPair, hashCanonical, loadKeyPair, saveKeyPair } from '@os2/crypto'
import type { KeyPair } from '@os2/crypto'
import { KernelError } from '../errors.ts'
import { createKernel } from '../kernel.ts'
import type { KernelHandle, KernelInit } from '../kernel.ts'
import type { Genesis } from '../kernel-types.ts'
import { createGenesis, parseGenesis } from '../limits.ts'
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
    logs: join(dir, 'logs')
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

export interface OpenDataDirOptions {
  /** Extra capability descriptors (sandbox, federation) registered beside the built-ins. */
  descriptors?: KernelInit['descriptors']
}

/** A kernel running on a data dir, with the genesis and node key it was opened with. */
export interface OpenedDataDir extends LoadedDataDir {
  kernel: KernelHandle
}

/**
 * Opens the kernel of a data dir: file ledger storage on `ledger/` (verified on
 * open, a torn tail cut and reported with an `alert` event), file snapshot
 * store on `snapshots/`, the node key as signer, and wall time for wall-clock
 * budgets. Close it with `kernel.close()`.
 *
 * @throws KernelError `DATA_DIR_MISSING`, `DATA_DIR_UNREADABLE`, `GENESIS_INVALID`
 * (also when the ledger was made from another genesis), `LEDGER_CORRUPT` /
 * `LEDGER_CHAIN_BROKEN` when the ledger does not verify, `REPLAY_DIVERGED`
 * @example
 * const { kernel } = await openDataDir('/var/lib/os2')
 * try { await kernel.handle(request) } finally { await kernel.close() }
 */
export async function openDataDir (dir: string, options: OpenDataDirOptions = {}): Promise<OpenedDataDir> {
  const loaded = await loadDataDir(dir)
  const { paths } = loaded
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
  return { ...loaded, kernel }
}
