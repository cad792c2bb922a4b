import type { ShellBackend } from './backend.ts'
import type { Output } from './output.ts'
import type { Progress } from './progress.ts'
import type { ShellIO } from './shell-io.ts'

/** What every command implementation receives. */
export interface CommandContext {
  io: ShellIO
  out: Output
  backend: ShellBackend
  /** Absolute data dir path. */
  dataDir: string
  /** A progress bar on stderr when stdout is a TTY (and not `--json`); a no-op otherwise. */
  progress(label: string, total: number): Promise<Progress>
}

/** A command's exit code: 0 success, 1 failed or verification found a problem, 2 bad usage. */
export type ExitCode = 0 | 1 | 2
