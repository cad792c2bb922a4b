import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'

// Runs each federation benchmark in its own process, one after another; each prints JSON lines.
for (const file of ['pipeline.bench.ts', 'replication.bench.ts', 'attach.bench.ts']) {
  execFileSync(process.execPath, ['--import', 'tsx', resolve(import.meta.dirname, file)], { stdio: 'inherit' })
}
