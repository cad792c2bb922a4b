/**
 * The `os2` entry point: the only file that reads argv and the environment.
 * It wires the real I/O and the node backend (lazy-loaded, so `--help` stays fast)
 * into `runCli` and exits with its code.
 */
// libp2p (loaded only with --attach) needs Promise.withResolvers, which Node 20 lacks: first import.
import '@os2/federation/polyfill'
import { runCli } from './cli.ts'
import type { ShellIO } from './shell-io.ts'

const controller = new AbortController()
let interrupts = 0
process.on('SIGINT', () => {
  interrupts++
  if (interrupts > 1) process.exit(130)
  controller.abort()
})

async function readStdin (): Promise<string> {
  const chunks: Buffer[] = []
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

const io: ShellIO = {
  stdout: { write: (s) => { process.stdout.write(s) }, isTTY: process.stdout.isTTY === true },
  stderr: { write: (s) => { process.stderr.write(s) } },
  readStdin,
  envDataDir: process.env.OS2_DATA_DIR === '' ? undefined : process.env.OS2_DATA_DIR,
  cwd: process.cwd(),
  now: () => new Date(),
  signal: controller.signal,
  progress: async (label, total) => await (await import('./progress.ts')).createProgressBar(label, total, process.stderr)
}

const code = await runCli(process.argv.slice(2), io, async () => (await import('./node-backend.ts')).createNodeBackend())
process.exit(code)
