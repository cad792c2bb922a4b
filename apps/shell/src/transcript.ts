import { appendFile, mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { OutputSummary } from './output.ts'

export interface TranscriptRecord {
  started: Date
  finished: Date
  argv: string[]
  command: string | undefined
  exitCode: number
  output: OutputSummary
}

/** `2026-11-26T10-15-02-123Z`: an ISO timestamp that is a valid file name everywhere. */
export function transcriptFileName (at: Date): string {
  return at.toISOString().replace(/[:.]/g, '-') + '.jsonl'
}

/**
 * Appends one invocation's transcript lines (`command`, `output`, `exit`) to
 * `<data-dir>/logs/<timestamp>.jsonl`. Does nothing when the data dir is not
 * initialised (no genesis.json), so a mistyped `--data-dir` never creates
 * directories. Resolves to the file written, if any.
 */
export async function writeTranscript (dataDir: string, record: TranscriptRecord): Promise<string | undefined> {
  try {
    const info = await stat(join(dataDir, 'genesis.json'))
    if (!info.isFile()) return undefined
  } catch {
    return undefined
  }
  const logs = join(dataDir, 'logs')
  await mkdir(logs, { recursive: true })
  const file = join(logs, transcriptFileName(record.started))
  const lines = [
    { type: 'command', at: record.started.toISOString(), command: record.command ?? null, argv: record.argv },
    { type: 'output', stdoutBytes: record.output.stdoutBytes, stdoutLines: record.output.stdoutLines, stdoutHead: record.output.stdoutHead, stderr: record.output.stderr },
    { type: 'exit', at: record.finished.toISOString(), exitCode: record.exitCode, durationMs: record.finished.getTime() - record.started.getTime() }
  ]
  await appendFile(file, lines.map(l => JSON.stringify(l)).join('\n') + '\n')
  return file
}
