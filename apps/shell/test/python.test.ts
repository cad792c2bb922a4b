import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createGenesis, createKernel } from '@os2/kernel'
import type { KernelHandle, TokenStatus } from '@os2/kernel'
import { createPythonRuntime } from '@os2/sandbox'
import { ensureOperatorGrant, pyxSource, runOperatorToken, tokenError } from '../src/commands/python.ts'
import type { OpenedDataDir } from '../src/backend.ts'

const ADD_WASM = Buffer.from('0061736d0100000001070160027f7f017f030201000707010361646400000a09010700200020016a0b', 'hex')

describe('python command helpers', () => {
  let dir: string
  let kernel: KernelHandle
  let opened: OpenedDataDir

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'os2-pyhelpers-'))
    const runtime = createPythonRuntime({ dataDir: dir })
    kernel = await createKernel({}, { genesis: createGenesis({ seed: 1 }), descriptors: runtime.descriptors })
    opened = { dir, kernel, genesis: kernel.genesis, publicKey: 'test' }
  })
  afterEach(async () => {
    await kernel.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('`ensureOperatorGrant()` grants once, as a recorded GrantCapability request', async () => {
    await ensureOperatorGrant(kernel, kernel.genesis, 'python.exec')
    await ensureOperatorGrant(kernel, kernel.genesis, 'python.exec')
    const grants = kernel.grants().filter(g => g.capability === 'python.exec')
    expect(grants).toHaveLength(1)
    expect(grants[0]?.principal).toBe('operator')
    expect(grants[0]?.scope).toEqual({ namespaces: ['*'], hosts: [] })
    expect([...kernel.ledger.events()].filter(e => e.type === 'request')).toHaveLength(1)
  })

  it('`runOperatorToken()` mounts a WASM module with a ledger-derived token id and stores it by SHA-256', async () => {
    const file = join(dir, 'add.wasm')
    await writeFile(file, ADD_WASM)
    const status = await runOperatorToken(opened, { capability: 'module.mount', args: { name: 'calc', source: file } })
    expect(status.token.id).toBe('module-3') // genesis, grant request, grant_created
    expect(status.state).toBe('completed')
    expect(status.result).toMatchObject({ name: 'calc', exports: ['add'] })
    expect(await readdir(join(dir, 'modules'))).toHaveLength(1)
    expect(kernel.kv('os2.modules').map(e => e.key)).toEqual(['calc'])
  })

  it('`runOperatorToken()` leaves nothing behind when a module is invalid', async () => {
    const file = join(dir, 'bad.wasm')
    await writeFile(file, Buffer.from('0061736d01000000ff', 'hex'))
    const status = await runOperatorToken(opened, { capability: 'module.mount', args: { name: 'bad', source: file } })
    expect(status.state).toBe('failed')
    expect(tokenError(status).code).toBe('MODULE_INVALID')
    expect(await readdir(join(dir, 'modules')).catch(() => [])).toEqual([])
    expect(kernel.kv('os2.modules')).toEqual([])
  })

  it('`tokenError()` keeps the inner code of HANDLER_FAILED messages and other codes as they are', () => {
    const base = { token: { id: 't' }, state: 'failed' } as unknown as TokenStatus
    expect(tokenError({ ...base, error: { code: 'HANDLER_FAILED', message: 'PYTHON_EXCEPTION: ValueError: x\nmore' } }).code).toBe('PYTHON_EXCEPTION')
    expect(tokenError({ ...base, error: { code: 'HANDLER_FAILED', message: 'plain failure' } }).code).toBe('HANDLER_FAILED')
    expect(tokenError({ ...base, error: { code: 'BUDGET_EXCEEDED', message: 'over' } }).code).toBe('BUDGET_EXCEEDED')
  })

  it('`pyxSource()` quotes the expression so it cannot break out of the string', () => {
    const src = pyxSource('"\'\n)__import__("x")')
    expect(src.split('\n')[0]).toBe('_os2_r = eval(compile("\\"\'\\n)__import__(\\"x\\")", \'<expr>\', \'eval\'))')
  })
})
