/**
 * @packageDocumentation
 * The `os2` shell as a library: run the CLI in-process (`runCli`) with your own
 * I/O and backend, or reuse the scenario format and runner.
 *
 * @example
 * ```ts
 * import { runCli, createNodeBackend } from '@os2/shell'
 * const code = await runCli(['--json', 'cap-list'], io, async () => createNodeBackend())
 * ```
 */
export { runCli, reportError, parseCount, parseList, SHELL_VERSION } from './cli.ts'
export { createNodeBackend } from './node-backend.ts'
export { parseScenario, runScenario } from './scenario.ts'
export { ShellError, SHELL_ERROR_CODES, exitCodeFor, describeError } from './errors.ts'
export { createOutput } from './output.ts'
export { createLedgerReader } from './ledger-reader.ts'
export { writeTranscript, transcriptFileName } from './transcript.ts'
export type { ShellBackend, OpenedDataDir, InitResult, ProgressCallback } from './backend.ts'
export type { ShellIO } from './shell-io.ts'
export type { Output, OutputSummary } from './output.ts'
export type { LedgerReader } from './ledger-reader.ts'
export type { Scenario, ScenarioStep, StepExpectation, StepReport, ScenarioReport } from './scenario.ts'
export type { ShellErrorCode } from './errors.ts'
export type { TranscriptRecord } from './transcript.ts'
export type { Progress } from './progress.ts'
export type { CommandContext, ExitCode } from './command-context.ts'
