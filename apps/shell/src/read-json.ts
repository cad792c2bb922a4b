import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { ShellIO } from './shell-io.ts'
import { ShellError } from './errors.ts'

/** Parses JSON text; malformed input is `BAD_REQUEST` (exit 2). */
export function parseJson (text: string, what: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new ShellError('BAD_REQUEST', `Cannot parse ${what}: ${(err as Error).message}`, { cause: err })
  }
}

/** Reads a file (or stdin for `-`) as text; a missing file is a usage error. */
export async function readInput (io: ShellIO, source: string): Promise<string> {
  if (source === '-') return await io.readStdin()
  try {
    return await readFile(resolve(io.cwd, source), 'utf8')
  } catch (err) {
    throw new ShellError('USAGE', `Cannot read ${source}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
  }
}

/** True for a plain JSON object. */
export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
