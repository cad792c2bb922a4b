import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { createGenesis, createKernel } from '@os2/kernel'
import type { Libp2p } from '@libp2p/interface'
import type { KernelHandle } from '@os2/kernel'
import { mountKernelProtocol } from '../../src/kernel-protocol/index.ts'
import type { KernelProtocolInit, MountedKernelProtocol } from '../../src/kernel-protocol/index.ts'
import { identity } from '../helpers.ts'
import type { NodeIdentity } from '../../src/identity.ts'

export interface AttachNode {
  id: NodeIdentity
  kernel: KernelHandle
  libp2p: Libp2p
  mounted: MountedKernelProtocol
  /** The node's TCP multiaddr with /p2p/<peer id>. */
  address: string
  stop(): Promise<void>
}

/** An in-memory kernel served over real libp2p on a random loopback port. */
export async function startAttachNode (n: number, init: KernelProtocolInit = {}): Promise<AttachNode> {
  const id = identity(n)
  const kernel = await createKernel({ signer: id.keyPair }, { genesis: createGenesis({ seed: n }) })
  const libp2p = await createLibp2p({
    privateKey: id.libp2pKey,
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    // Tests dial many short sessions from one host; libp2p's default allows 5 per second.
    connectionManager: { inboundConnectionThreshold: 10_000 }
  })
  await libp2p.start()
  const mounted = await mountKernelProtocol(libp2p, { kernel }, { publicKey: id.keyPair.publicKey, ...init })
  const address = libp2p.getMultiaddrs()[0]?.toString()
  if (address === undefined) throw new Error('libp2p has no listen address')
  return {
    id,
    kernel,
    libp2p,
    mounted,
    address,
    async stop () {
      await mounted.unmount()
      await libp2p.stop()
      await kernel.close()
    }
  }
}

/** Grants `operator.attach` to `principal` as the operator; returns the grant id. */
export async function grantAttach (kernel: KernelHandle, principal: string): Promise<string> {
  const res = await kernel.handle({ type: 'GrantCapability', grant: { principal, capability: 'operator.attach' } })
  const id = (res.result as { grantId?: string, grant?: { id: string } } | undefined)
  const grantId = id?.grantId ?? id?.grant?.id ?? kernel.grants().find(g => g.principal === principal && g.capability === 'operator.attach' && !g.revoked)?.id
  if (res.disposition === 'rejected' || grantId === undefined) throw new Error(`grant failed: ${JSON.stringify(res)}`)
  return grantId
}
