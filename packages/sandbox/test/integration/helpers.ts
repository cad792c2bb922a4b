import { createSandbox } from '../../src/index.ts'
import type { Sandbox, SandboxInit, SyscallCall, SyscallHandler } from '../../src/index.ts'

export interface FakeKernel {
  handler: SyscallHandler
  calls: SyscallCall[]
  state: Map<string, unknown>
}

/** A fake kernel port: records calls, serves a few capabilities, denies the rest with CAPABILITY_DENIED. */
export function fakeKernel (extra: Record<string, (args: unknown) => unknown> = {}): FakeKernel {
  const calls: SyscallCall[] = []
  const state = new Map<string, unknown>()
  const handler: SyscallHandler = async (call) => {
    calls.push(call)
    const args = call.args as Record<string, unknown>
    const custom = extra[call.capability]
    if (custom !== undefined) return { ok: true, value: custom(call.args) }
    switch (call.capability) {
      case 'echo': return { ok: true, value: call.args }
      case 'kernel.emit': return { ok: true, value: null }
      case 'kernel.state.get': return { ok: true, value: state.get(String(args.key)) ?? null }
      case 'kernel.state.put': state.set(String(args.key), args.value); return { ok: true, value: null }
      case 'kernel.state.delete': state.delete(String(args.key)); return { ok: true, value: null }
      default: return { ok: false, error: { code: 'CAPABILITY_DENIED', message: `No grant covers ${call.capability}` } }
    }
  }
  return { handler, calls, state }
}

export const MiB = 2 ** 20

export const baseInit: SandboxInit = {
  seed: 42,
  tick: 0,
  unitBudget: 5_000_000,
  memoryLimitBytes: 768 * MiB,
  wallClockMs: 20_000
}

export async function openSandbox (init: Partial<SandboxInit> = {}, kernel: FakeKernel = fakeKernel()): Promise<Sandbox> {
  return await createSandbox({ syscalls: kernel.handler }, { ...baseInit, ...init })
}

/** Runs one script in a fresh session and closes it. */
export async function runOnce (code: string, init: Partial<SandboxInit> = {}, kernel: FakeKernel = fakeKernel()): ReturnType<Sandbox['run']> {
  const sandbox = await openSandbox(init, kernel)
  try {
    return await sandbox.run(code)
  } finally {
    await sandbox.close()
  }
}
