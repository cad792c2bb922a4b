import { createGenesis, createKernel } from '@os2/kernel'
import type { KernelHandle } from '@os2/kernel'

/** An in-memory kernel with a grant for `kernel.state.put`. */
export async function workloadKernel (seed = 7): Promise<KernelHandle> {
  const kernel = await createKernel({}, { genesis: createGenesis({ seed }) })
  await kernel.handle({ type: 'GrantCapability', grant: { principal: 'agent', capability: 'kernel.state.put' } })
  return kernel
}

let counter = 0

/** Submits and runs `n` state writes (several ledger events each). */
export async function writeSome (kernel: KernelHandle, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const id = `t${++counter}`
    await kernel.handle({ type: 'SubmitToken', token: { id, capability: 'kernel.state.put', principal: 'agent', args: { namespace: 'notes', key: id, value: i } } })
  }
  await kernel.runUntilIdle()
}
