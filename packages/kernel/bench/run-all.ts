// Runs every `*.bench.ts` in this folder (the kernel's and the ledger's) one
// after another, each in its own tsx process, and prints their JSON lines.
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const files = readdirSync(here).filter(f => f.endsWith('.bench.ts')).sort()
let failed = 0
for (const file of files) {
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(here, file)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], env: process.env })
  for (const line of res.stdout.split('\n')) {
    if (line.trim() === '') continue
    try {
      process.stdout.write(JSON.stringify({ file, ...JSON.parse(line) as Record<string, unknown> }) + '\n')
    } catch {
      process.stdout.write(JSON.stringify({ file, output: line }) + '\n')
    }
  }
  if (res.status !== 0) {
    failed++
    process.stdout.write(JSON.stringify({ file, error: `exited with ${String(res.status ?? res.signal)}` }) + '\n')
  }
}
process.exitCode = failed > 0 ? 1 : 0
