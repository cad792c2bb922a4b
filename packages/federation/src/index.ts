/**
 * @packageDocumentation
 * Federated memories for OS2: Yjs documents (key/value, episodic, vector, text)
 * whose changes cross node boundaries only as signed `FederatedChange` bundles,
 * checked against capability grants, carried over libp2p.
 *
 * @example
 * ```ts
 * import { createFederationReplica, createGrantBook, createMemoryLedger, nodeIdentity, kvView } from '@os2/federation'
 * import { generateKeyPair } from '@os2/crypto'
 * const identity = nodeIdentity(generateKeyPair())
 * const replica = createFederationReplica({ identity, grants: createGrantBook(), ledger: createMemoryLedger(), clock: { now: () => 0 } })
 * replica.write({ kind: 'kv', namespace: 'notes' }, doc => { kvView(doc).set('greeting', 'hello') })
 * ```
 */
export { FederationError, FEDERATION_ERROR_CODES } from './errors.ts'
export { MEMORY_KINDS, ROOT_NAME, memoryName, parseMemoryName, isValidNamespace } from './memory/memory-ref.ts'
export { kvView, episodicView, vectorView, textView, canonicalState, MAX_KEY_LENGTH, MAX_VALUE_BYTES, MAX_VECTOR_DIMENSION } from './memory/memory-views.ts'
export { createCommit } from './memory/commit.ts'
export { createMemoryStore } from './memory/memory-store.ts'
export { nodeIdentity, peerIdOfPublicKey, publicKeyOfPeer } from './identity.ts'
export {
  signFederatedChange, verifyFederatedChange, encodeFederatedChange, parseFederatedChange, bundleIdOf, bundleUpdate,
  signingBytes, FederatedChangeSchema, DEFAULT_MAX_BUNDLE_BYTES
} from './bundle/federated-change.ts'
export { signRevocation, verifyRevocation, parseRevocation, RevocationSchema, MAX_CONTROL_BYTES } from './bundle/revocation.ts'
export { createGrantBook, scopeCovers } from './policy/grant-book.ts'
export { evaluateBundle } from './policy/policy.ts'
export { analyzeUpdate } from './policy/analyze-update.ts'
export { REASON_CODES, HELD_REASONS } from './policy/verdict.ts'
export { createMemoryLedger } from './ledger-port.ts'
export { createNullStorage } from './storage/replica-storage.ts'
export { createFileStorage } from './storage/file-storage.ts'
export { createFederationReplica } from './replica.ts'
export { createMemoryCapabilities, MEMORY_CAPABILITY_IDS, FEDERATION_CAPABILITIES } from './capabilities/memory-capabilities.ts'
export { createKernelLedgerPort } from './kernel/kernel-ledger-port.ts'
export { createKernelGrantBook } from './kernel/kernel-grant-book.ts'
export { createKernelFederation } from './kernel/kernel-federation.ts'
export { createFederationTransport } from './transport/federation-transport.ts'
export type { FederationErrorCode } from './errors.ts'
export type { MemoryKind, MemoryRef } from './memory/memory-ref.ts'
export type { KvView, EpisodicView, EpisodicEvent, VectorView, VectorEntry, VectorHit, TextView } from './memory/memory-views.ts'
export type { Commit, CommitRecord } from './memory/commit.ts'
export type { MemoryStore } from './memory/memory-store.ts'
export type { NodeIdentity } from './identity.ts'
export type { FederatedChange, FederatedChangeDraft, ParseResult } from './bundle/federated-change.ts'
export type { Revocation } from './bundle/revocation.ts'
export type { FederationGrant, GrantView, GrantBook, RevocationOutcome } from './policy/grant-book.ts'
export type { PolicyContext, PolicyOutcome } from './policy/policy.ts'
export type { TouchReport } from './policy/analyze-update.ts'
export type { ReasonCode, VerdictRecord } from './policy/verdict.ts'
export type { FederationLedger, MemoryLedger, RecordedEvent } from './ledger-port.ts'
export type { ReplicaStorage } from './storage/replica-storage.ts'
export type { FederationReplica, FederationReplicaComponents, FederationReplicaInit, LocalWrite, BundleListener, WantListener, RevocationListener } from './replica.ts'
export {
  mountKernelProtocol, dialKernel, createRemoteKernel, KERNEL_PROTOCOL, ATTACH_CAPABILITY, ATTACH_ERROR_CODES, AttachError, KERNEL_OPS
} from './kernel-protocol/index.ts'
export type {
  KernelProtocolComponents, KernelProtocolInit, KernelProtocolStats, MountedKernelProtocol, HelloResult, ServedKernel, DialKernelInit,
  KernelClient, RemoteKernel, KernelViewResult, KernelOp, AttachErrorCode
} from './kernel-protocol/index.ts'
export type { MemoryCapabilityComponents } from './capabilities/memory-capabilities.ts'
export type { KernelLedgerPort, RecordingKernel } from './kernel/kernel-ledger-port.ts'
export type { KernelGrantBookComponents, KernelGrantLike } from './kernel/kernel-grant-book.ts'
export type { KernelFederation, KernelFederationComponents, FederationKernel } from './kernel/kernel-federation.ts'
export type { FederationTransport, FederationTransportComponents, FederationTransportInit, PeerStatus } from './transport/federation-transport.ts'
