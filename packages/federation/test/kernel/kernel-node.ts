import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createGenesis, createKernel, createMemoryLedgerStorage } from '@os2/kernel'
import type { Genesis, KernelHandle, MemoryLedgerStorage } from '@os2/kernel'
import { createKernelFederation } from '../../src/kernel/kernel-federation.ts'
import { createFileStorage } from '../../src/storage/file-storage.ts'
import type { KernelFederation } from '../../src/kernel/kernel-federation.ts'
import type { NodeIdentity } from '../../src/identity.ts'
import type { FederationReplica } from '../../src/replica.ts'

/** A kernel with federation attached, over a ledger storage and a replica data dir that survive `close()`. */
export interface KernelNode {
  kernel: KernelHandle
  federation: KernelFederation
  replica: FederationReplica
  genesis: Genesis
  ledgerStorage: MemoryLedgerStorage
  dir: string
  id: NodeIdentity
  close(): Promise<void>
}

export async function openKernelNode (id: NodeIdentity, reuse?: KernelNode): Promise<KernelNode> {
  const genesis = reuse?.genesis ?? createGenesis({ seed: 5 })
  const ledgerStorage = reuse?.ledgerStorage ?? createMemoryLedgerStorage()
  const dir = reuse?.dir ?? mkdtempSync(join(tmpdir(), 'os2-fed-kernel-'))
  const federation = createKernelFederation({ keyPair: id.keyPair, storage: createFileStorage(dir) })
  const kernel = await createKernel({ storage: ledgerStorage }, { genesis, descriptors: federation.descriptors })
  federation.attach(kernel)
  const { replica } = await federation.open()
  return {
    kernel, federation, replica, genesis, ledgerStorage, dir, id,
    async close () {
      await federation.close()
      await kernel.close()
    }
  }
}

let n = 0
/** Submits one token as `principal` and runs it; returns its status. */
export async function invoke (node: KernelNode, capability: string, args: Record<string, unknown>, principal = node.genesis.operator): Promise<NonNullable<ReturnType<KernelHandle['token']>>> {
  const id = `t${++n}`
  await node.kernel.handle({ type: 'SubmitToken', token: { id, capability, principal, args } })
  await node.kernel.runUntilIdle()
  const status = node.kernel.token(id)
  if (status === undefined) throw new Error(`token ${id} missing`)
  return status
}

export async function grantTo (node: KernelNode, principal: string, capability: string, namespaces?: string[]): Promise<string> {
  const res = await node.kernel.handle({ type: 'GrantCapability', grant: { principal, capability, scope: namespaces === undefined ? {} : { namespaces } } })
  return (res.result as { grant: { id: string } }).grant.id
}
