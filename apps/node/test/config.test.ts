import { describe, expect, it } from 'vitest'
import { parseNodeConfig } from '../src/config.ts'
import { NodeError } from '../src/errors.ts'

const MINIMAL = 'cluster = "dev"\nnode = "a"\ndata_dir = "/var/lib/os2"\n'

function failure (text: string): NodeError {
  try {
    parseNodeConfig(text, '/etc/os2/node.toml')
  } catch (err) {
    if (err instanceof NodeError) return err
    throw err
  }
  throw new Error('expected the config to be refused')
}

describe('parseNodeConfig()', () => {
  it('`parseNodeConfig()` fills defaults when only the required fields are given', () => {
    const c = parseNodeConfig(MINIMAL, '/etc/os2/node.toml')
    expect(c.cluster).toBe('dev')
    expect(c.federation.listen).toEqual(['/ip4/127.0.0.1/tcp/0'])
    expect(c.nats).toEqual({ servers: [], replicas: 1, window: 256, watch: [] })
    expect(c.metrics.address).toBe('127.0.0.1:9464')
  })

  it('`parseNodeConfig()` resolves a relative data_dir against the config file directory', () => {
    const c = parseNodeConfig('cluster = "dev"\nnode = "a"\ndata_dir = "data/a"\n', '/etc/os2/node.toml')
    expect(c.data_dir).toBe('/etc/os2/data/a')
  })

  it('`parseNodeConfig()` reads every section', () => {
    const c = parseNodeConfig(MINIMAL + `
[federation]
listen = ["/ip4/0.0.0.0/tcp/4001"]
bootstrap = ["/ip4/10.0.0.2/tcp/4001/p2p/12D3KooWabc"]
[nats]
servers = ["nats://127.0.0.1:4222", "nats://127.0.0.1:4223"]
replicas = 3
watch = ["n2", "n3"]
[metrics]
address = "0.0.0.0:9464"
[log]
level = "debug"
`, 'node.toml')
    expect(c.nats.replicas).toBe(3)
    expect(c.nats.watch).toEqual(['n2', 'n3'])
    expect(c.federation.bootstrap).toHaveLength(1)
    expect(c.log.level).toBe('debug')
  })

  it('`parseNodeConfig()` names a missing required field', () => {
    const err = failure('cluster = "dev"\ndata_dir = "/x"\n')
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.field).toBe('node')
    expect(err.message).toBe('Invalid /etc/os2/node.toml: node is required')
  })

  it('`parseNodeConfig()` names a nested bad value with its array index', () => {
    const err = failure(MINIMAL + '[nats]\nservers = ["nats://127.0.0.1:4222", "http://x"]\n')
    expect(err.field).toBe('nats.servers[1]')
    expect(err.message).toContain('nats.servers[1] must be a URL')
  })

  it('`parseNodeConfig()` names a watched node that cannot be a stream name', () => {
    const err = failure(MINIMAL + '[nats]\nwatch = ["n2", "a.b"]\n')
    expect(err.code).toBe('CONFIG_INVALID')
    expect(err.field).toBe('nats.watch[1]')
  })

  it('`parseNodeConfig()` names an unknown field', () => {
    const err = failure(MINIMAL + '[metrics]\nport = 9464\n')
    expect(err.field).toBe('metrics.port')
    expect(err.message).toContain('unknown field metrics.port')
  })

  it('`parseNodeConfig()` refuses a node name that cannot be a NATS subject token', () => {
    expect(failure('cluster = "dev"\nnode = "a.b"\ndata_dir = "/x"\n').field).toBe('node')
  })

  it('`parseNodeConfig()` answers CONFIG_UNREADABLE for text that is not TOML', () => {
    const err = failure('cluster = = "dev"')
    expect(err.code).toBe('CONFIG_UNREADABLE')
    expect(err.message).toMatch(/^Cannot read \/etc\/os2\/node.toml: not valid TOML/)
  })
})
