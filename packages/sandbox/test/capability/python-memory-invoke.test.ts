import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { z } from 'zod'
import { createGenesis, createKernel, defineCapability, replayLedger } from '@os2/kernel'
import type { CanonicalValue } from '@os2/crypto'
import type { KernelHandle } from '@os2/kernel'
import { createPythonRuntime } from '../../src/capability/python-runtime.ts'

/**
 * `os2.invoke()` of a capability outside python.exec's built-in set (real
 * Pyodide, real kernel): the call is a nested invocation checked as a top-level
 * one, and its external effects are recorded so replay does not redo them.
 * The memory capabilities live in @os2/federation (tested with os2.memory in
 * apps/node/test/integration/python-agent-memory.test.ts); here a journal
 * outside the kernel stands in for them.
 */
const journal: CanonicalValue[] = []
const journalAppend = defineCapability({
  id: 'test.journal.append',
  version: 1,
  description: 'Appends an entry to a journal outside the kernel (an external effect)',
  args: z.strictObject({ namespace: z.string(), entry: z.json() }),
  scope: args => ({ namespaces: [args.namespace] }),
  handler: async (args, ctx) => await ctx.external('journal.append', () => { journal.push(args.entry as CanonicalValue); return { length: journal.length } }, { timed: false })
})

let dir: string
let runtime: ReturnType<typeof createPythonRuntime>
let kernel: KernelHandle
const genesis = createGenesis({ seed: 21 })

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'os2-py-invoke-'))
  runtime = createPythonRuntime({ dataDir: dir })
  kernel = await createKernel({}, { genesis, descriptors: [...runtime.descriptors, journalAppend] })
  journal.length = 0
})
afterEach(async () => {
  await kernel.close()
  await runtime.close()
  await rm(dir, { recursive: true, force: true })
})

async function run (code: string, principal = 'agent'): Promise<{ stdout: string, state: string | undefined }> {
  await kernel.handle({ type: 'SubmitToken', token: { id: 't', capability: 'python.exec', principal, args: { code }, budget: { tokens: 5_000_000 } } })
  await kernel.runUntilIdle()
  const stdout = [...kernel.ledger.events()].filter(e => e.type === 'custom' && e.payload.name === 'python.stdout').map(e => (e.payload.data as { text: string }).text).join('')
  return { stdout, state: kernel.token('t')?.state }
}

const grant = async (capability: string, namespaces?: string[]): Promise<void> => {
  await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability, ...(namespaces !== undefined ? { scope: { namespaces } } : {}) } })
}

describe('python.exec nested invocation', () => {
  it('a granted capability runs once, its result reaches the script, and replay serves it without redoing the effect', async () => {
    await grant('python.exec')
    await grant('test.journal.append', ['notes'])
    const r = await run(`
import os2
print(os2.invoke('test.journal.append', {'namespace': 'notes', 'entry': {'n': 1}}))
print(os2.invoke('test.journal.append', {'namespace': 'notes', 'entry': 'two'}))
`)
    expect(r.state).toBe('completed')
    expect(r.stdout).toBe("{'length': 1}\n{'length': 2}\n")
    expect(journal).toEqual([{ n: 1 }, 'two'])
    expect(kernel.state.get('usage', 'test.journal.append')).toMatchObject({ invocations: 2 })
    const report = await replayLedger([...kernel.ledger.events()], { genesis, descriptors: [...createPythonRuntime({ dataDir: '/nonexistent' }).descriptors, journalAppend] })
    expect(report).toMatchObject({ ok: true })
    expect(journal).toHaveLength(2)
  })

  it('refusals come back as CapabilityError codes; a violation fails the token with capability_violation, python.exec cannot nest', async () => {
    await grant('python.exec')
    await grant('test.journal.append', ['notes'])
    const r = await run(`
import os2
for cap, args in [('test.journal.append', {'namespace': 'notes'}), ('no.such.capability', {}), ('python.exec', {'code': 'print(1)'}),
                  ('test.journal.append', {'namespace': 'secret', 'entry': 1}), ('os2.memory.missing', {})]:
    try:
        os2.invoke(cap, args)
        print(cap, 'ok')
    except os2.CapabilityError as e:
        print(cap, e.code)
try:
    os2.memory.put('notes', 'k', 1)
except os2.CapabilityError as e:
    print('memory', e.code)
`)
    expect(r.stdout).toBe([
      'test.journal.append SCHEMA_VIOLATION',
      'no.such.capability UNKNOWN_CAPABILITY',
      'python.exec CAPABILITY_DENIED',
      'test.journal.append GRANT_OUT_OF_SCOPE',
      'os2.memory.missing UNKNOWN_CAPABILITY',
      // No memory capabilities on this kernel.
      'memory UNKNOWN_CAPABILITY',
      ''
    ].join('\n'))
    expect(r.state).toBe('failed')
    expect(journal).toEqual([])
    const violations = [...kernel.ledger.events()].filter(e => e.type === 'capability_violation').map(e => e.payload.reason)
    expect(violations).toEqual(['syscall_denied'])
  })
})
