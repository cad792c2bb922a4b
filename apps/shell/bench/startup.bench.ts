/**
 * CLI latency: wall time of whole `os2` invocations (a process each), beside
 * the baseline of starting node and node + tsx with nothing to do. Prints one
 * JSON object per benchmark. Not a test: nothing here can fail on a slow machine.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const os2 = join(repo, 'apps/shell/bin/os2.js')
const runs = Number(process.env.RUNS ?? 5)

function time (args: string[]): number {
  const samples: number[] = []
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now()
    const r = spawnSync(process.execPath, args, { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' })
    samples.push(performance.now() - t0)
    if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr}`)
  }
  samples.sort((a, b) => a - b)
  return samples[Math.floor(samples.length / 2)]!
}

const dir = mkdtempSync(join(tmpdir(), 'os2-bench-'))
const data = join(dir, 'data')
try {
  spawnSync(process.execPath, [os2, '--data-dir', data, 'scenario-run', join(repo, 'examples/quickstart.json'), '--fresh'], { stdio: 'ignore' })
  const nodeBaseline = time(['-e', '0'])
  const tsxBaseline = time(['--import', 'tsx', '-e', '0'])
  const cases: Array<[string, string[]]> = [
    ['os2 --version', [os2, '--version']],
    ['os2 cap-list --json', [os2, '--data-dir', data, '--json', 'cap-list']],
    ['os2 ledger-verify', [os2, '--data-dir', data, 'ledger-verify']],
    ['os2 ledger-inspect --json', [os2, '--data-dir', data, '--json', 'ledger-inspect']]
  ]
  for (const [name, args] of cases) {
    const ms = time(args)
    console.log(JSON.stringify({ benchmark: `shell startup: ${name}`, unit: 'ms (median wall time per process)', runs, os2: Math.round(ms), baselineNode: Math.round(nodeBaseline), baselineNodeTsx: Math.round(tsxBaseline) }))
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
