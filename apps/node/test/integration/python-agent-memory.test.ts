import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { replayLedger } from '@os2/kernel'
import type { EventEnvelope, Genesis, KernelHandle } from '@os2/kernel'
import { dataDirPaths, initDataDir, openDataDir } from '@os2/kernel/node'
import { loadKeyPair } from '@os2/crypto'
import { createPythonRuntime } from '@os2/sandbox'
import { createFileStorage, createKernelFederation, createMemoryCapabilities } from '@os2/federation/kernel'
import type { FederationReplica } from '@os2/federation'

/**
 * A Python agent writes and reads memories through the kernel (real Pyodide,
 * real kernel on a data dir, real replica): `os2.memory.*` are nested
 * invocations of the memory capabilities, checked against the agent's own
 * grants, and replay serves their recorded results without running Python or
 * touching the memories again.
 */
const dirs: string[] = []
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

interface Node { kernel: KernelHandle, genesis: Genesis, replica: () => Promise<FederationReplica>, flush: () => Promise<void>, close: () => Promise<void> }

async function open (dir: string): Promise<Node> {
  const python = createPythonRuntime({ dataDir: dir })
  const keyPair = await loadKeyPair(dataDirPaths(dir).key)
  const federation = createKernelFederation({ keyPair, storage: () => createFileStorage(dir) })
  const { kernel, genesis } = await openDataDir(dir, { descriptors: [...python.descriptors, ...federation.descriptors] })
  federation.attach(kernel)
  return {
    kernel,
    genesis,
    replica: async () => (await federation.open()).replica,
    flush: async () => { await federation.ledger.flush() },
    async close () {
      try {
        await federation.close()
        await python.close()
      } finally { await kernel.close() }
    }
  }
}

async function freshNode (): Promise<{ dir: string, node: Node }> {
  const dir = mkdtempSync(join(tmpdir(), 'os2-py-memory-'))
  dirs.push(dir)
  await initDataDir(dir, { seed: 11 })
  return { dir, node: await open(dir) }
}

async function grant (kernel: KernelHandle, principal: string, capability: string, namespaces?: string[]): Promise<void> {
  const res = await kernel.handle({ type: 'GrantCapability', grant: { principal, capability, ...(namespaces !== undefined ? { scope: { namespaces } } : {}) } })
  expect(res.disposition).toBe('accepted')
}

let n = 0
async function runPython (kernel: KernelHandle, principal: string, code: string): Promise<{ id: string, stdout: string, events: EventEnvelope[] }> {
  const id = `py${++n}`
  const res = await kernel.handle({ type: 'SubmitToken', token: { id, capability: 'python.exec', principal, args: { code }, budget: { tokens: 5_000_000 } } })
  expect(res.disposition).toBe('queued')
  await kernel.runUntilIdle()
  const events = [...kernel.ledger.events()].filter(e => e.token_id === id)
  const stdout = events.filter(e => e.type === 'custom' && e.payload.name === 'python.stdout').map(e => (e.payload.data as { text: string }).text).join('')
  return { id, stdout, events }
}

const AGENT = `
import os2
os2.memory.put('agent', 'greeting', 'hello')
os2.memory.put('agent', 'count', 2)
os2.memory.append('agent', {'step': 1}, {'step': 2})
os2.memory.upsert('emb', 'a', [1, 0], {'label': 'east'})
os2.memory.upsert('emb', 'b', [0, 1])
print(os2.memory.get('agent', 'greeting'), os2.memory.get('agent', 'missing', 'default'))
print(sorted(os2.memory.keys('agent')))
print(os2.memory.events('agent'))
print([h['id'] for h in os2.memory.search('emb', [0.9, 0.1], k=1)])
os2.emit('agent.progress', {'done': True})
`

describe('a Python agent with memory grants', () => {
  it('writes kv, episodic and vector memories and emits an event; the memories hold them; reopening replays to the same head without re-applying', async () => {
    const { dir, node } = await freshNode()
    for (const cap of ['memory.kv.write', 'memory.kv.get', 'memory.episodic.write', 'memory.episodic.list']) await grant(node.kernel, 'agent-1', cap, ['agent'])
    for (const cap of ['memory.vector.write', 'memory.vector.search']) await grant(node.kernel, 'agent-1', cap, ['emb'])
    await grant(node.kernel, 'agent-1', 'python.exec')
    const run = await runPython(node.kernel, 'agent-1', AGENT)
    expect(node.kernel.token(run.id)?.error).toBeUndefined()
    expect(node.kernel.token(run.id)?.state).toBe('completed')
    expect(run.stdout).toBe("hello default\n['count', 'greeting']\n[{'step': 1}, {'step': 2}]\n['a']\n")
    expect(run.events.find(e => e.type === 'custom' && e.payload.name === 'agent.progress')?.payload.data).toEqual({ done: true })
    // Every memory call is an external result of the token: 5 writes, 5 reads.
    const externals = run.events.filter(e => e.type === 'external_result' && e.payload.name !== 'python.next').map(e => e.payload.name)
    expect(externals).toEqual(['memory.write', 'memory.write', 'memory.write', 'memory.write', 'memory.write', 'memory.kv.get', 'memory.kv.get', 'memory.kv.get', 'memory.episodic.list', 'memory.vector.search'])
    // The nested invocations are counted like top-level ones.
    expect(node.kernel.state.get('usage', 'memory.kv.write')).toMatchObject({ invocations: 2 })
    await node.flush()
    const replica = await node.replica()
    expect(replica.memories.canonical('kv:agent')).toEqual({ count: 2, greeting: 'hello' })
    expect(replica.memories.canonical('episodic:agent')).toEqual([{ step: 1 }, { step: 2 }])
    expect(replica.memories.commits('kv:agent')).toHaveLength(2)
    const commits = [...node.kernel.ledger.events()].filter(e => e.type === 'memory.commit').map(e => e.payload.memory)
    expect(commits).toEqual(['kv:agent', 'kv:agent', 'episodic:agent', 'vector:emb', 'vector:emb'])
    const head = node.kernel.ledger.head
    const stateHash = node.kernel.state.hash()
    const fingerprint = replica.memories.fingerprint()
    const events = [...node.kernel.ledger.events()]
    await node.close()

    // Replay from genesis with memories that cannot be touched and no Python host.
    const untouchable = createMemoryCapabilities({ replica: () => { throw new Error('replay touched the memories') } })
    const scratchPython = createPythonRuntime({ dataDir: '/nonexistent' })
    const report = await replayLedger(events, { genesis: node.genesis, descriptors: [...scratchPython.descriptors, ...untouchable] })
    expect(report).toMatchObject({ ok: true })

    const reopened = await open(dir)
    try {
      expect(reopened.kernel.ledger.head).toBe(head)
      expect(reopened.kernel.state.hash()).toBe(stateHash)
      const again = await reopened.replica()
      expect(again.memories.fingerprint()).toBe(fingerprint)
      expect(again.memories.commits('kv:agent')).toHaveLength(2)
      expect(again.memories.commits('episodic:agent')).toHaveLength(1)
    } finally {
      await reopened.close()
    }
  })

  it('without a grant, or outside its namespaces, the script gets the refusal, a capability_violation is recorded and nothing is written', async () => {
    const { node } = await freshNode()
    try {
      await grant(node.kernel, 'agent-2', 'python.exec')
      await grant(node.kernel, 'agent-2', 'memory.kv.write', ['agent'])
      const run = await runPython(node.kernel, 'agent-2', `
import os2
for ns, call in [('other', lambda: os2.memory.put('other', 'k', 1)), ('agent', lambda: os2.memory.append('agent', 'e'))]:
    try:
        call()
        print(ns, 'written')
    except os2.CapabilityError as e:
        print(ns, e.code)
`)
      expect(run.stdout).toBe('other GRANT_OUT_OF_SCOPE\nagent GRANT_MISSING\n')
      const status = node.kernel.token(run.id)
      expect(status?.state).toBe('failed')
      expect(status?.error?.code).toBe('GRANT_OUT_OF_SCOPE')
      const violations = run.events.filter(e => e.type === 'capability_violation').map(e => e.payload)
      expect(violations).toEqual([expect.objectContaining({ reason: 'out_of_scope', code: 'GRANT_OUT_OF_SCOPE' })])
      expect(run.events.some(e => e.type === 'external_result' && e.payload.name === 'memory.write')).toBe(false)
      await node.flush()
      expect((await node.replica()).memories.canonicalAll()).toEqual({})
      expect([...node.kernel.ledger.events()].some(e => e.type === 'memory.commit')).toBe(false)
    } finally {
      await node.close()
    }
  })
})
