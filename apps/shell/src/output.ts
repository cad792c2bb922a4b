import Table from 'cli-table3'
import type { ShellIO } from './shell-io.ts'

/** Collects what a command printed, for the transcript. */
export interface OutputSummary { stdoutBytes: number, stdoutLines: number, stdoutHead: string, stderr: string }

const HEAD_CHARS = 2000

// Compact tables: no separator line between body rows, no colours.
const COMPACT = {
  chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  style: { head: [], border: [] }
}

/**
 * Writes command results either as one JSON document (`--json`) or as
 * human-readable tables, and remembers a summary for the transcript.
 */
export interface Output {
  /** True with `--json`. */
  readonly json: boolean
  /** True when stdout is a terminal. */
  readonly isTTY: boolean
  /** Raw text to stdout. */
  write(text: string): void
  /** One line to stdout. */
  line(text?: string): void
  /** One JSON document (pretty-printed, newline-terminated). */
  document(value: unknown): void
  /** One compact JSON document on a single line (for streams such as `--follow`). */
  jsonLine(value: unknown): void
  /** A table with a header row. */
  table(head: string[], rows: Array<Array<string | number>>): void
  /** A two-column key/value table. */
  fields(pairs: Array<[string, string | number | boolean]>): void
  /** Text to stderr (diagnostics, errors). */
  error(text: string): void
  /** What was printed so far, for the transcript. */
  summary(): OutputSummary
}

/** An {@link Output} on the shell's stdout and stderr. */
export function createOutput (io: ShellIO, json: boolean): Output {
  return new DefaultOutput(io, json)
}

class DefaultOutput implements Output {
  readonly json: boolean
  readonly #io: ShellIO
  #stdoutBytes = 0
  #stdoutLines = 0
  #stdoutHead = ''
  #stderr = ''

  constructor (io: ShellIO, json: boolean) {
    this.#io = io
    this.json = json
  }

  get isTTY (): boolean { return this.#io.stdout.isTTY }

  /** Raw text to stdout. */
  write (text: string): void {
    this.#stdoutBytes += Buffer.byteLength(text)
    for (const ch of text) if (ch === '\n') this.#stdoutLines++
    if (this.#stdoutHead.length < HEAD_CHARS) this.#stdoutHead += text.slice(0, HEAD_CHARS - this.#stdoutHead.length)
    this.#io.stdout.write(text)
  }

  line (text = ''): void { this.write(text + '\n') }

  /** One JSON document (pretty-printed, newline-terminated). */
  document (value: unknown): void { this.line(JSON.stringify(value, null, 2)) }

  /** One compact JSON document on a single line (for streams such as `--follow`). */
  jsonLine (value: unknown): void { this.line(JSON.stringify(value)) }

  /** A table with a header row. */
  table (head: string[], rows: Array<Array<string | number>>): void {
    const table = new Table({ head, ...COMPACT })
    for (const row of rows) table.push(row.map(String))
    this.line(table.toString())
  }

  /** A two-column key/value table. */
  fields (pairs: Array<[string, string | number | boolean]>): void {
    const table = new Table({ ...COMPACT })
    for (const [key, value] of pairs) table.push({ [key]: String(value) })
    this.line(table.toString())
  }

  /** Text to stderr (diagnostics, errors). */
  error (text: string): void {
    if (this.#stderr.length < HEAD_CHARS) this.#stderr += text.slice(0, HEAD_CHARS - this.#stderr.length)
    this.#io.stderr.write(text)
  }

  summary (): OutputSummary {
    return { stdoutBytes: this.#stdoutBytes, stdoutLines: this.#stdoutLines, stdoutHead: this.#stdoutHead, stderr: this.#stderr }
  }
}

/** Shortens a hash for tables: first 12 hex chars. */
export function shortHash (hash: string): string {
  return hash.length > 16 ? hash.slice(0, 12) + '…' : hash
}

/** Truncates text to `max` characters for table cells. */
export function clip (text: string, max = 60): string {
  return text.length > max ? text.slice(0, max - 1) + '…' : text
}
