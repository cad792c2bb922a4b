import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'os2-node.js')

export interface NodeStatusLine { peerId: string, ledgerSize: number, attach: string[], federation: string[], metrics: string }

/** A spawned `os2-node` with its JSON log lines. */
export interface NodeProcess {
  readonly child: ChildProcess
  readonly lines: Array<Record<string, unknown>>
  readonly stderr: () => string
  /** The `node ready` status line. */
  ready: Promise<NodeStatusLine>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

export function writeConfig (dir: string, name: string, text: string): string {
  const path = join(dir, `${name}.toml`)
  writeFileSync(path, text)
  return path
}

export function spawnNode (configPath: string): NodeProcess {
  const child = spawn(process.execPath, [BIN, '--config', configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: Array<Record<string, unknown>> = []
  let err = ''
  let buffer = ''
  let onReady: (s: NodeStatusLine) => void = () => undefined
  let onFail: (e: Error) => void = () => undefined
  const ready = new Promise<NodeStatusLine>((resolve, reject) => { onReady = resolve; onFail = reject })
  child.stdout?.on('data', (chunk: Buffer) => {
    buffer += chunk.toString()
    let nl
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl)
      buffer = buffer.slice(nl + 1)
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>
        lines.push(parsed)
        if (parsed.msg === 'node ready') onReady(parsed as unknown as NodeStatusLine)
      } catch { /* not a log line */ }
    }
  })
  child.stderr?.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => {
    child.once('exit', (code, signal) => {
      onFail(new Error(`os2-node exited (${code ?? signal}) before ready:\n${err}\n${lines.map(l => JSON.stringify(l)).join('\n')}`))
      resolve({ code, signal })
    })
  })
  ready.catch(() => undefined)
  return { child, lines, stderr: () => err, ready, exited }
}

/** Kills a node process if it still runs. */
export async function killNode (node: NodeProcess | undefined): Promise<void> {
  if (node === undefined || node.child.exitCode !== null || node.child.signalCode !== null) return
  node.child.kill('SIGKILL')
  await node.exited
}

export async function until (what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/** One metric sample's value from Prometheus text (`name{labels}` exact), or 0. */
export function sample (text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(series + ' ')) return Number(line.slice(series.length + 1))
  }
  return 0
}
