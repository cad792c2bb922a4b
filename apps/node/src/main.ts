/**
 * The `os2-node` entry point: the only file that reads argv and the
 * environment. `os2-node --config node.toml` runs one node until SIGTERM or
 * SIGINT. Exit codes: 0 stopped cleanly, 1 a component failed, 2 bad usage or
 * a bad config (the message names the field).
 */
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { pino } from 'pino'
import { parseNodeConfig } from './config.ts'
import { createNodeDaemon } from './daemon.ts'
import { NodeError } from './errors.ts'

const USAGE = 'usage: os2-node --config <node.toml>   (see docs/node.md)'

function fail (message: string, code: number): never {
  process.stderr.write(`os2-node: ${message}\n`)
  process.exit(code)
}

let values: { config?: string | undefined, help?: boolean | undefined }
try {
  values = parseArgs({ options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } }, strict: true }).values
} catch (err) {
  fail(`${(err as Error).message}\n${USAGE}`, 2)
}
if (values.help === true) {
  process.stdout.write(USAGE + '\n')
  process.exit(0)
}
const path = values.config ?? process.env.OS2_NODE_CONFIG
if (path === undefined || path === '') fail(`--config is required\n${USAGE}`, 2)

let text: string
try {
  text = await readFile(path, 'utf8')
} catch (err) {
  fail(`Cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, 2)
}
let config
try {
  config = parseNodeConfig(text, path)
} catch (err) {
  if (err instanceof NodeError) fail(err.message, 2)
  throw err
}

const logger = pino({ level: config.log.level, base: { cluster: config.cluster, node: config.node, pid: process.pid } })
const daemon = createNodeDaemon({ logger }, config)

let stopping = false
async function shutdown (signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  logger.info({ signal }, 'stopping')
  await daemon.stop()
  logger.info('stopped')
  logger.flush()
  process.exit(0)
}
process.on('SIGTERM', () => { void shutdown('SIGTERM') })
process.on('SIGINT', () => { void shutdown('SIGINT') })

try {
  await daemon.start()
} catch (err) {
  logger.fatal({ err: { message: (err as Error).message, code: (err as NodeError).code } }, (err as Error).message)
  logger.flush()
  process.exit(1)
}
