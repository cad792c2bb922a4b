/**
 * The kernel protocol (`/os2/kernel/1.0.0`): a shell attached to a node over
 * libp2p. Server: `mountKernelProtocol`; client: `dialKernel`, and
 * `createRemoteKernel` to use the session as a `Kernel`. Reference: docs/attach.md.
 */
export { mountKernelProtocol } from './kernel-protocol-server.ts'
export { dialKernel } from './dial-kernel.ts'
export { createRemoteKernel } from './remote-kernel.ts'
export {
  KERNEL_PROTOCOL, ATTACH_CAPABILITY, ATTACH_ERROR_CODES, AttachError, KERNEL_OPS, OP_ARGS, DEFAULT_MAX_REQUEST_FRAME,
  DEFAULT_MAX_RESPONSE_FRAME, MAX_EVENTS_PER_CALL
} from './wire.ts'
export type { KernelProtocolComponents, KernelProtocolInit, KernelProtocolStats, MountedKernelProtocol, HelloResult, ServedKernel } from './kernel-protocol-server.ts'
export type { DialKernelInit, KernelClient } from './dial-kernel.ts'
export type { RemoteKernel, KernelViewResult } from './remote-kernel.ts'
export type { KernelOp, AttachErrorCode, ResponseFrame } from './wire.ts'
