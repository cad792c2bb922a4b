import { describe, expect, it } from 'vitest'
import { createGenesis, createKernel, replayLedger } from '@os2/kernel'
import type { EventEnvelope, KernelHandle } from '@os2/kernel'
import { createPythonExecCapability } from '../../src/capability/python-exec.ts'
import type { PythonHost } from '../../src/capability/python-exec.ts'
import type { PythonMessage } from '../../src/capability/live-run.ts'
import type { SyscallResult } from '../../src/types.ts'

const done = (status: string, units: number, error: { code: string, message: string } | null = null, violations: Array<{ kind: string, detail: string }> = []): PythonMessage =>
  ({ t: 'done', status, units, error, violations, outputTruncated: false })

/** A host whose "script" is a fixed list of batches; records the replies it was given and how often it started. */
function scriptedHost (batches: PythonMessage[][]): PythonHost & { replies: Array<SyscallResult | undefined>, starts: number } {
  const host = {
    replies: [] as Array<SyscallResult | undefined>,
    starts: 0,
    async start () {
      host.starts++
      let i = 0
      return {
        live: {
          next: async (reply?: SyscallResult) => { host.replies.push(reply); return batches[i++] ?? [done('killed', 0, { code: 'SANDBOX_CRASHED', message: 'script ran out' })] },
          abandon: () => {}
        },
        release: async () => {},
        callModule: async () => 7
      }
    }
  }
  return host
}

const neverStarts: PythonHost = {
  start: async () => { throw new Error('replay must not start Python') }
}

async function runScript (host: PythonHost, scope: { namespaces?: string[], hosts?: string[] } = { namespaces: ['*'], hosts: [] }, tokens = 100_000): Promise<KernelHandle> {
  const kernel = await createKernel({}, { genesis: createGenesis({ seed: 3 }), descriptors: [createPythonExecCapability(host)] })
  await kernel.handle({ type: 'GrantCapability', grant: { principal: 'p', capability: 'python.exec', scope } })
  await kernel.handle({ type: 'SubmitToken', token: { id: 't', capability: 'python.exec', principal: 'p', args: { code: 'ignored' }, budget: { tokens } } })
  await kernel.runUntilIdle()
  return kernel
}

function types (kernel: KernelHandle): string[] {
  return [...kernel.ledger.events()].filter((e: EventEnvelope) => e.token_id === 't').map(e => e.type === 'custom' ? `custom:${String(e.payload.name)}` : e.type)
}

describe('createPythonExecCapability()', () => {
  it('`python.exec` applies output and syscalls, answers the script and replays from the ledger without starting Python', async () => {
    const host = scriptedHost([
      [{ t: 'out', s: 'stdout', text: 'hi\n' }, { t: 'call', capability: 'kernel.state.put', args: { key: 'k', value: 41 } }],
      [{ t: 'call', capability: 'kernel.state.get', args: { key: 'k' } }],
      [{ t: 'out', s: 'stderr', text: 'warn\n' }, done('ok', 120)]
    ])
    const kernel = await runScript(host)
    expect(host.starts).toBe(1)
    expect(host.replies).toEqual([undefined, { ok: true, value: null }, { ok: true, value: 41 }])
    expect(kernel.token('t')?.state).toBe('completed')
    expect(kernel.token('t')?.result).toEqual({ status: 'ok', units: 120 })
    expect(kernel.kv('python')).toEqual([{ namespace: 'python', key: 'k', value: 41 }])
    expect(types(kernel)).toContain('custom:python.stdout')
    expect(types(kernel)).toContain('custom:python.stderr')
    const report = await replayLedger(kernel.ledger.events(), { genesis: kernel.genesis, descriptors: [createPythonExecCapability(neverStarts)] })
    expect(report.ok).toBe(true)
    expect(report.ok && report.head).toBe(kernel.ledger.head)
  })

  it('`python.exec` refuses script events under the kernel\'s own names', async () => {
    const host = scriptedHost([
      [{ t: 'call', capability: 'kernel.emit', args: { type: 'python.stdout', payload: { text: 'forged' } } }],
      [{ t: 'call', capability: 'kernel.emit', args: { type: 'progress', payload: { pct: 50 } } }],
      [done('ok', 1)]
    ])
    const kernel = await runScript(host)
    expect(host.replies[1]).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } })
    expect(host.replies[2]).toEqual({ ok: true, value: null })
    expect(types(kernel)).not.toContain('custom:python.stdout')
    expect(types(kernel)).toContain('custom:progress')
  })

  it('`python.exec` records resource_budget_exceeded when the script used its whole unit budget', async () => {
    const kernel = await runScript(scriptedHost([[done('budget_exceeded', 5000, { code: 'BUDGET_EXCEEDED', message: 'Unit budget exhausted' })]]), undefined, 5000)
    expect(types(kernel)).toContain('resource_budget_exceeded')
    expect(kernel.token('t')?.error?.code).toBe('BUDGET_EXCEEDED')
  })

  it('`python.exec` records capability_violation for a sandbox violation', async () => {
    const kernel = await runScript(scriptedHost([[done('violation', 10, { code: 'SANDBOX_VIOLATION', message: 'x' }, [{ kind: 'forbidden_import', detail: 'import js' }])]]))
    expect(types(kernel)).toContain('capability_violation')
    expect(types(kernel)).toContain('custom:python.violation')
  })

  it('`python.exec` returns a denied syscall to the script and still records capability_violation when the script catches it', async () => {
    const host = scriptedHost([
      [{ t: 'call', capability: 'kernel.state.put', args: { key: 'k', value: 1, namespace: 'secret' } }],
      [done('ok', 10)]
    ])
    const kernel = await runScript(host, { namespaces: ['python'], hosts: [] })
    expect(host.replies[1]).toMatchObject({ ok: false, error: { code: 'GRANT_OUT_OF_SCOPE' } })
    expect(types(kernel)).toContain('capability_violation')
    expect(kernel.token('t')?.state).toBe('failed')
    expect(kernel.kv('secret')).toEqual([])
  })

  it('`python.exec` refuses net.fetch to a host outside the grant before any request is made', async () => {
    const host = scriptedHost([[{ t: 'call', capability: 'net.fetch', args: { url: 'http://example.invalid/' } }], [done('ok', 1)]])
    const kernel = await runScript(host, { namespaces: ['*'], hosts: ['127.0.0.1'] })
    expect(host.replies[1]).toMatchObject({ ok: false, error: { code: 'GRANT_OUT_OF_SCOPE' } })
    expect([...kernel.ledger.events()].some(e => e.type === 'external_result' && e.payload.name === 'net.fetch')).toBe(false)
  })

  it('`python.exec` fails the token with the Python error code when the script raises', async () => {
    const kernel = await runScript(scriptedHost([[done('error', 3, { code: 'PYTHON_SYNTAX_ERROR', message: 'SyntaxError: bad (line 1)' })]]))
    expect(kernel.token('t')?.error).toMatchObject({ code: 'HANDLER_FAILED', message: 'PYTHON_SYNTAX_ERROR: SyntaxError: bad (line 1)' })
  })
})
