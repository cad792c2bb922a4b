/**
 * @packageDocumentation
 * Node-only adapters of the kernel: file-backed ledger storage, file snapshot
 * store and the data dir that wires them into a kernel.
 *
 * @example
 * ```ts
 * import { initDataDir, openDataDir } from '@os2/kernel/node'
 * await initDataDir('/tmp/os2', { seed: 42 })
 * const { kernel } = await openDataDir('/tmp/os2')
 * ```
 */
export { dataDirPaths, initDataDir, checkDataDir, readGenesis, readDataDirPublicKey, loadDataDir, openDataDir, lockDataDir } from './data-dir.ts'
export type { DataDirPaths, InitDataDirOptions, InitializedDataDir, LoadedDataDir, OpenDataDirOptions, OpenedDataDir, DataDirLock, LockDataDirOptions } from './data-dir.ts'
export { createFileLedgerStorage, CHECKPOINTS_FILE } from './file-ledger-storage.ts'
export { verifyLedgerDir } from './ledger-verify-dir.ts'
export { createFileSnapshotStore } from './file-snapshot-store.ts'
export { nodeLedgerFs } from './ledger-fs.ts'
export type { FileLedgerStorage, FileLedgerStorageInit } from './file-ledger-storage.ts'
export type { LedgerDirVerifyResult, VerifyLedgerDirOptions } from './ledger-verify-dir.ts'
export type { LedgerFs, LedgerFile } from './ledger-fs.ts'
