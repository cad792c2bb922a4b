import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { join } from 'node:path'
import type { CanonicalValue } from '@os2/crypto'
import { describeIsolation } from '../isolation.ts'
import { childDir } from '../paths.ts'

/** Runs mounted WASM modules for one Python session, in a separate process under WASI. */
export interface ModuleHost {
  /** @throws Error with `code` (`UNKNOWN_EXPORT`, `MODULE_TRAP`, `MODULE_TIMEOUT`, `MODULE_HOST_FAILED`) */
  call: (module: string, exportName: string, args: number[]) => Promise<CanonicalValue>
  close: () => void
}

interface Pending { resolve: (v: CanonicalValue) => void, reject: (e: Error) => void }

function codedError (code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}

/**
 * Starts the WASI runner (lazily, on the first call) with the given modules:
 * an empty environment, the session's network namespace launcher, no
 * preopened directories; each call times out after `callTimeoutMs`.
 */
export function createModuleHost (modules: Array<{ name: string, bytes: Uint8Array }>, opts: { callTimeoutMs?: number } = {}): ModuleHost {
  let proc: ChildProcess | undefined
  let ready: Promise<void> | undefined
  let seq = 0
  const pending = new Map<number, Pending>()
  const timeout = opts.callTimeoutMs ?? 5000

  const fail = (err: Error): void => {
    for (const p of pending.values()) p.reject(err)
    pending.clear()
  }

  const boot = async (): Promise<void> => {
    const launcher = describeIsolation().networkNamespace.launcher ?? []
    const [cmd, ...rest] = [...launcher, process.execPath, '--disable-warning=ExperimentalWarning', join(childDir(), 'wasi-runner.mjs')]
    const child = spawn(cmd ?? process.execPath, rest, { env: {}, stdio: ['pipe', 'pipe', 'pipe'] })
    proc = child
    let stderr = ''
    child.stderr?.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-2000) })
    child.stdin?.on('error', () => undefined)
    await new Promise<void>((resolve, reject) => {
      const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream })
      lines.on('line', (line) => {
        const msg = JSON.parse(line) as { t: string, id?: number, ok?: boolean, value?: CanonicalValue, error?: { code: string, message: string }, message?: string }
        if (msg.t === 'loaded') resolve()
        else if (msg.t === 'error') reject(codedError('MODULE_HOST_FAILED', `Cannot load WASM modules: ${msg.message ?? ''}`))
        else if (msg.t === 'result' && msg.id !== undefined) {
          const p = pending.get(msg.id)
          pending.delete(msg.id)
          if (msg.ok === true) p?.resolve(msg.value ?? null)
          else p?.reject(codedError(msg.error?.code ?? 'MODULE_TRAP', msg.error?.message ?? 'module call failed'))
        }
      })
      child.on('close', (code) => {
        const err = codedError('MODULE_HOST_FAILED', `The WASM runner exited (${String(code)}): ${stderr.trim()}`)
        reject(err)
        fail(err)
      })
      child.stdin?.write(JSON.stringify({ t: 'load', modules: modules.map(m => ({ name: m.name, b64: Buffer.from(m.bytes).toString('base64') })) }) + '\n')
    })
  }

  return {
    async call (module, exportName, args) {
      ready ??= boot()
      await ready
      const id = ++seq
      return await new Promise<CanonicalValue>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          proc?.kill('SIGKILL')
          reject(codedError('MODULE_TIMEOUT', `${module}.${exportName} ran longer than ${timeout} ms: the WASM runner was killed`))
        }, timeout)
        pending.set(id, {
          resolve: (v) => { clearTimeout(timer); resolve(v) },
          reject: (e) => { clearTimeout(timer); reject(e) }
        })
        proc?.stdin?.write(JSON.stringify({ t: 'call', id, module, export: exportName, args }) + '\n')
      })
    },
    close () {
      proc?.kill('SIGKILL')
      proc = undefined
    }
  }
}
