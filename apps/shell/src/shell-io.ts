import type { Progress } from './progress.ts'

/**
 * Everything the shell touches outside its own code, passed in by `main.ts`
 * (the only file that reads `process.env` and argv) so tests can run the CLI
 * in-process with fakes.
 */
export interface ShellIO {
  stdout: { write(chunk: string): void, readonly isTTY: boolean }
  stderr: { write(chunk: string): void }
  /** Reads all of standard input (for `--json-request -`). */
  readStdin(): Promise<string>
  /** `OS2_DATA_DIR`, when set. */
  envDataDir: string | undefined
  /** Resolves relative paths. */
  cwd: string
  /** Wall time, for transcript file names only. */
  now(): Date
  /** Aborted on SIGINT (ends `ledger-inspect --follow`). */
  signal: AbortSignal
  /** A progress bar for long work (main.ts draws one on stderr only when stdout is a TTY). */
  progress(label: string, total: number): Promise<Progress>
}
