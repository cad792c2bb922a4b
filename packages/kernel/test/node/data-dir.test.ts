import { spawnSync } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { checkDataDir, dataDirPaths, initDataDir, loadDataDir, lockDataDir, openDataDir, readDataDirPublicKey, readGenesis } from '../../node/data-dir.ts'

let base: string
beforeEach(async () => { base = await mkdtemp(join(tmpdir(), 'os2-data-dir-')) })
afterEach(async () => { await rm(base, { recursive: true, force: true }) })

async function codeOf (p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('initDataDir()', () => {
  it('`initDataDir()` creates the layout with a 0600 key and a canonical genesis when the dir is new', async () => {
    const dir = join(base, 'a', 'b')
    const result = await initDataDir(dir, { seed: 42 })
    const entries = (await readdir(dir)).sort()
    expect(entries).toEqual(['genesis.json', 'ledger', 'logs', 'memories', 'node.key', 'node.pub', 'snapshots'])
    expect((await stat(join(dir, 'node.key'))).mode & 0o777).toBe(0o600)
    expect(result.genesis.seed).toBe('42')
    expect(result.genesis.operator).toBe('operator')
    expect(result.genesisHash).toMatch(/^[0-9a-f]{64}$/)
    expect((await readFile(join(dir, 'node.pub'), 'utf8')).trim()).toBe(result.publicKey)
    expect(await readGenesis(dir)).toEqual(result.genesis)
  })

  it('`initDataDir()` writes byte-identical genesis files when the seed is the same, different ones when it differs', async () => {
    await initDataDir(join(base, 'x'), { seed: 'same' })
    await initDataDir(join(base, 'y'), { seed: 'same' })
    await initDataDir(join(base, 'z'), { seed: 'other' })
    const x = await readFile(join(base, 'x', 'genesis.json'))
    expect(x.equals(await readFile(join(base, 'y', 'genesis.json')))).toBe(true)
    expect(x.equals(await readFile(join(base, 'z', 'genesis.json')))).toBe(false)
    // Keys are fresh per data dir.
    expect(await readDataDirPublicKey(join(base, 'x'))).not.toBe(await readDataDirPublicKey(join(base, 'y')))
  })

  it('`initDataDir()` throws DATA_DIR_EXISTS and changes nothing when the dir is already initialised', async () => {
    const dir = join(base, 'd')
    await initDataDir(dir, { seed: 1 })
    const before = await readFile(join(dir, 'genesis.json'))
    const key = await readFile(join(dir, 'node.key'))
    expect(await codeOf(initDataDir(dir, { seed: 2 }))).toBe('DATA_DIR_EXISTS')
    expect((await readFile(join(dir, 'genesis.json'))).equals(before)).toBe(true)
    expect((await readFile(join(dir, 'node.key'))).equals(key)).toBe(true)
  })

  it('`initDataDir()` throws DATA_DIR_UNREADABLE when a file is in the way', async () => {
    const file = join(base, 'file')
    await writeFile(file, 'x')
    expect(await codeOf(initDataDir(file, { seed: 1 }))).toBe('DATA_DIR_UNREADABLE')
  })

  it('`initDataDir()` throws CONFIG_INVALID and creates nothing when the limits TOML is invalid', async () => {
    const dir = join(base, 'bad')
    expect(await codeOf(initDataDir(dir, { seed: 1, limitsToml: '[kernel\nnope' }))).toBe('CONFIG_INVALID')
    expect(await codeOf(stat(dir))).toBe('ENOENT')
  })

  it('`initDataDir()` takes capability limits from the TOML when given', async () => {
    const toml = [
      '[kernel]', 'max_request_bytes = 1000', 'max_payload_bytes = 100', 'aging_ticks = 4',
      '[kernel.default_budget]', 'tokens = 10', 'memory = 10', 'network = 10', 'wall_clock_ms = 10',
      '[capabilities."kernel.emit"]', 'ceiling = 5', 'cost = 1'
    ].join('\n')
    const { genesis } = await initDataDir(join(base, 't'), { seed: 1, limitsToml: toml })
    expect(genesis.limits.maxRequestBytes).toBe(1000)
    expect(Object.keys(genesis.capabilities)).toEqual(['kernel.emit'])
  })
})

describe('checkDataDir()', () => {
  it('`checkDataDir()` throws DATA_DIR_MISSING when the dir does not exist or has no genesis', async () => {
    expect(await codeOf(checkDataDir(join(base, 'nope')))).toBe('DATA_DIR_MISSING')
    await mkdir(join(base, 'empty'))
    expect(await codeOf(checkDataDir(join(base, 'empty')))).toBe('DATA_DIR_MISSING')
  })

  it('`checkDataDir()` throws DATA_DIR_UNREADABLE when the path is a file or genesis.json is a directory', async () => {
    await writeFile(join(base, 'file'), 'x')
    expect(await codeOf(checkDataDir(join(base, 'file')))).toBe('DATA_DIR_UNREADABLE')
    const dir = join(base, 'g')
    await initDataDir(dir, { seed: 1 })
    await unlink(join(dir, 'genesis.json'))
    await mkdir(join(dir, 'genesis.json'))
    expect(await codeOf(checkDataDir(dir))).toBe('DATA_DIR_UNREADABLE')
    expect(await codeOf(readGenesis(dir))).toBe('DATA_DIR_UNREADABLE')
  })

  it('`checkDataDir()` returns the layout paths when the dir is initialised', async () => {
    const dir = join(base, 'ok')
    await initDataDir(dir, { seed: 1 })
    expect(await checkDataDir(dir)).toEqual(dataDirPaths(dir))
  })
})

describe('readGenesis() and loadDataDir()', () => {
  it('`readGenesis()` throws GENESIS_INVALID when genesis.json is not JSON or not a genesis', async () => {
    const dir = join(base, 'g')
    await initDataDir(dir, { seed: 1 })
    await writeFile(join(dir, 'genesis.json'), '{not json')
    expect(await codeOf(readGenesis(dir))).toBe('GENESIS_INVALID')
    await writeFile(join(dir, 'genesis.json'), JSON.stringify({ version: 2, seed: '1' }))
    expect(await codeOf(readGenesis(dir))).toBe('GENESIS_INVALID')
  })

  it('`loadDataDir()` returns the genesis and the signer whose key init wrote', async () => {
    const dir = join(base, 'l')
    const init = await initDataDir(dir, { seed: 7 })
    const loaded = await loadDataDir(dir)
    expect(loaded.genesis).toEqual(init.genesis)
    expect(loaded.genesisHash).toBe(init.genesisHash)
    expect(loaded.signer.publicKey).toBe(init.publicKey)
  })

  it('`loadDataDir()` throws KEY_FILE_PERMISSIONS when node.key is readable by others', async () => {
    const dir = join(base, 'p')
    await initDataDir(dir, { seed: 7 })
    await chmod(join(dir, 'node.key'), 0o644)
    expect(await codeOf(loadDataDir(dir))).toBe('KEY_FILE_PERMISSIONS')
  })

  it('`loadDataDir()` throws DATA_DIR_UNREADABLE when node.key is missing', async () => {
    const dir = join(base, 'k')
    await initDataDir(dir, { seed: 7 })
    await unlink(join(dir, 'node.key'))
    expect(await codeOf(loadDataDir(dir))).toBe('DATA_DIR_UNREADABLE')
  })

  it('`readDataDirPublicKey()` derives the key from node.key when node.pub is missing', async () => {
    const dir = join(base, 'pub')
    const init = await initDataDir(dir, { seed: 7 })
    await unlink(join(dir, 'node.pub'))
    expect(await readDataDirPublicKey(dir)).toBe(init.publicKey)
  })
})

describe('lockDataDir() and openDataDir()', () => {
  it('`openDataDir()` holds the lock while the kernel is open and releases it on close', async () => {
    const dir = join(base, 'o')
    await initDataDir(dir, { seed: 1 })
    const { kernel, genesis } = await openDataDir(dir)
    expect(genesis.seed).toBe('1')
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toEqual({ pid: process.pid })
    expect(await codeOf(openDataDir(dir))).toBe('DATA_DIR_LOCKED')
    expect(kernel.ledger.size).toBe(1)
    await kernel.close()
    expect(await codeOf(stat(join(dir, 'lock')))).toBe('ENOENT')
    const again = await openDataDir(dir)
    expect(again.kernel.ledger.head).toBe(kernel.ledger.head)
    await again.kernel.close()
  })

  it('`lockDataDir()` throws DATA_DIR_LOCKED after the timeout when a live process holds the lock', async () => {
    const dir = join(base, 'live')
    await initDataDir(dir, { seed: 1 })
    await writeFile(join(dir, 'lock'), JSON.stringify({ pid: process.ppid }))
    const started = Date.now()
    expect(await codeOf(lockDataDir(dir, { timeoutMs: 200 }))).toBe('DATA_DIR_LOCKED')
    expect(Date.now() - started).toBeGreaterThanOrEqual(200)
    expect(JSON.parse(await readFile(join(dir, 'lock'), 'utf8'))).toEqual({ pid: process.ppid })
  })

  it('`lockDataDir()` takes over a lock whose holder is dead or never wrote its pid', async () => {
    const dir = join(base, 'stale')
    await initDataDir(dir, { seed: 1 })
    const dead = spawnSync(process.execPath, ['-e', '0']).pid
    expect(dead).toBeGreaterThan(0)
    await writeFile(join(dir, 'lock'), JSON.stringify({ pid: dead }))
    const lock = await lockDataDir(dir, { timeoutMs: 0 })
    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toEqual({ pid: process.pid })
    await lock.release()
    await lock.release()
    await writeFile(join(dir, 'lock'), '')
    const old = new Date(Date.now() - 60_000)
    await utimes(join(dir, 'lock'), old, old)
    const second = await lockDataDir(dir, { timeoutMs: 0 })
    await second.release()
    expect(await codeOf(stat(join(dir, 'lock')))).toBe('ENOENT')
  })

  it('`lockDataDir()` waits for a holder that releases within the timeout', async () => {
    const dir = join(base, 'wait')
    await initDataDir(dir, { seed: 1 })
    await writeFile(join(dir, 'lock'), JSON.stringify({ pid: process.ppid }))
    setTimeout(() => { void unlink(join(dir, 'lock')) }, 150)
    const lock = await lockDataDir(dir, { timeoutMs: 5000 })
    expect(JSON.parse(await readFile(lock.path, 'utf8'))).toEqual({ pid: process.pid })
    await lock.release()
  })
})
