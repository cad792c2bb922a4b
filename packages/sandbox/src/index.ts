/**
 * @packageDocumentation
 * Python sessions for OS2: Pyodide in an isolated OS process per session
 * (Node permission model, empty environment, own network namespace where
 * the OS allows, memory and wall-clock limits enforced from outside), a
 * synchronous syscall bridge (`os2.invoke`) to the kernel, deterministic
 * time/randomness, and metering in deterministic units.
 *
 * @example
 * ```ts
 * import { createSandbox } from '@os2/sandbox'
 * const sandbox = await createSandbox({ syscalls: kernelHandler },
 *   { seed: 7, tick: 0, unitBudget: 1_000_000, memoryLimitBytes: 512 * 2 ** 20, wallClockMs: 10_000 })
 * const { status, stdout, units } = await sandbox.run('import random; print(random.random())')
 * await sandbox.close()
 * ```
 */
export { createSandbox } from './sandbox.ts'
export { createSandboxPool } from './sandbox-pool.ts'
export { describeIsolation } from './isolation.ts'
export { ensureSnapshot, defaultSnapshotDir, checkSnapshotDir, snapshotCacheState } from './snapshot-cache.ts'
export type { SnapshotCacheState } from './snapshot-cache.ts'
export { SandboxError, SANDBOX_ERROR_CODES, isSandboxError } from './errors.ts'
export type { Sandbox, SandboxComponents, SandboxInit, SandboxStartup } from './sandbox.ts'
export type { SandboxPool, SandboxPoolInit, SandboxPoolStats } from './sandbox-pool.ts'
export type { IsolationReport } from './isolation.ts'
export type { SandboxErrorCode } from './errors.ts'
export type { SyscallCall, SyscallError, SyscallHandler, SyscallResult, Violation, RunStatus, RunError, RunResult, RunOptions, OutputStream } from './types.ts'
export { createPythonRuntime } from './capability/python-runtime.ts'
export { createPythonExecCapability, PIP_NAMESPACE, MODULES_NAMESPACE } from './capability/python-exec.ts'
export { inspectWheel, WheelError } from './capability/wheel-archive.ts'
export { httpFetch } from './capability/http-fetch.ts'
export { pyodideVersion } from './paths.ts'
export type { PythonRuntime, PythonRuntimeInit } from './capability/python-runtime.ts'
export type { OutputSink, PythonMessage } from './capability/live-run.ts'
export type { WheelInfo } from './capability/wheel-archive.ts'
export type { FetchResult } from './capability/http-fetch.ts'
