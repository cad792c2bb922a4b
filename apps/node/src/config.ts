import { isAbsolute, resolve, dirname } from 'node:path'
import { parse as parseToml } from 'smol-toml'
import { z } from 'zod'
import { NodeError } from './errors.ts'

const NAME = /^[A-Za-z0-9_-]{1,64}$/
const name = z.string().regex(NAME, 'must be 1-64 letters, digits, "_" or "-"')
const multiaddr = z.string().regex(/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+(\/p2p\/[A-Za-z0-9]+)?$/, 'must be a TCP multiaddr such as /ip4/127.0.0.1/tcp/4001')
const natsUrl = z.string().regex(/^(nats|tls):\/\/[^/\s]+:\d+$/, 'must be a URL such as nats://127.0.0.1:4222')
const hostPort = z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port, such as 127.0.0.1:9464')

/** The `node.toml` schema; see docs/node.md. Keys are snake_case in TOML. */
export const NodeConfigSchema = z.object({
  cluster: name,
  node: name,
  data_dir: z.string().min(1, 'must be a path'),
  /** Genesis seed used when the data dir does not exist yet. */
  seed: z.union([z.string(), z.number().int()]).default('os2'),
  federation: z.object({
    listen: z.array(multiaddr).default(['/ip4/127.0.0.1/tcp/0']),
    bootstrap: z.array(multiaddr).default([]),
    anti_entropy_ms: z.number().int().positive().default(500)
  }).strict().default({ listen: ['/ip4/127.0.0.1/tcp/0'], bootstrap: [], anti_entropy_ms: 500 }),
  nats: z.object({
    servers: z.array(natsUrl).default([]),
    replicas: z.number().int().min(1).max(5).default(1),
    /** Events in flight before the publisher waits for acks. */
    window: z.number().int().min(1).max(65_536).default(256),
    /** Other nodes whose event streams this node follows and re-verifies (its own is always watched). */
    watch: z.array(name).default([])
  }).strict().default({ servers: [], replicas: 1, window: 256, watch: [] }),
  attach: z.object({
    /** Where `/os2/kernel/1.0.0` listens for attached shells; empty: no attach. */
    listen: z.array(multiaddr).default(['/ip4/127.0.0.1/tcp/0']),
    /** Shell peer ids that attach as the operator without a grant. */
    operators: z.array(z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{40,64}$/, 'must be a libp2p peer id')).default([])
  }).strict().default({ listen: ['/ip4/127.0.0.1/tcp/0'], operators: [] }),
  metrics: z.object({
    address: hostPort.default('127.0.0.1:9464')
  }).strict().default({ address: '127.0.0.1:9464' }),
  log: z.object({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info')
  }).strict().default({ level: 'info' })
}).strict()

export type NodeConfig = z.output<typeof NodeConfigSchema>

function fieldOf (path: readonly PropertyKey[]): string {
  return path.length === 0 ? '(root)' : path.map(p => typeof p === 'number' ? `[${p}]` : String(p)).join('.').replaceAll('.[', '[')
}

/**
 * Parses and validates the text of a `node.toml`. A relative `data_dir` is
 * resolved against the directory of `source` (the config file).
 *
 * @throws NodeError `CONFIG_UNREADABLE` when the text is not TOML,
 * `CONFIG_INVALID` naming the first bad field (`error.field`)
 * @example
 * parseNodeConfig('cluster = "dev"\nnode = "a"\ndata_dir = "/var/lib/os2"', '/etc/os2/node.toml')
 */
export function parseNodeConfig (text: string, source: string): NodeConfig {
  let raw: unknown
  try {
    raw = parseToml(text)
  } catch (err) {
    throw new NodeError('CONFIG_UNREADABLE', `Cannot read ${source}: not valid TOML (${(err as Error).message.split('\n')[0] ?? ''})`, { cause: err })
  }
  const parsed = NodeConfigSchema.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const field = issue === undefined ? '(root)' : fieldOf(issue.path)
    let message = issue?.message ?? 'invalid'
    if (issue?.code === 'unrecognized_keys') {
      const keys = (issue as { keys?: string[] }).keys ?? []
      const at = issue.path.length > 0 ? `${fieldOf(issue.path)}.` : ''
      throw new NodeError('CONFIG_INVALID', `Invalid ${source}: unknown field ${keys.map(k => at + k).join(', ')}`, { field: at + (keys[0] ?? '') })
    }
    if (issue?.code === 'invalid_type' && /received undefined/.test(message)) message = 'is required'
    throw new NodeError('CONFIG_INVALID', `Invalid ${source}: ${field} ${message}`, { field })
  }
  const config = parsed.data
  if (!isAbsolute(config.data_dir)) config.data_dir = resolve(dirname(resolve(source)), config.data_dir)
  return config
}
