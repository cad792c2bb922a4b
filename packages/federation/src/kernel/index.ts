/**
 * `@os2/federation/kernel`: what a process opening a data dir needs to give
 * its kernel memory capabilities, without loading the libp2p transport.
 */
export { createKernelFederation } from './kernel-federation.ts'
export { createKernelLedgerPort } from './kernel-ledger-port.ts'
export { createKernelGrantBook } from './kernel-grant-book.ts'
export { createMemoryCapabilities, MEMORY_CAPABILITY_IDS, FEDERATION_CAPABILITIES } from '../capabilities/memory-capabilities.ts'
export { createFileStorage } from '../storage/file-storage.ts'
export type { KernelFederation, KernelFederationComponents, FederationKernel } from './kernel-federation.ts'
export type { KernelLedgerPort, RecordingKernel } from './kernel-ledger-port.ts'
export type { KernelGrantBookComponents, KernelGrantLike } from './kernel-grant-book.ts'
export type { MemoryCapabilityComponents } from '../capabilities/memory-capabilities.ts'
