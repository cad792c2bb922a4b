import { dirname, resolve } from 'node:path'
import { mkdir } from 'node:fs/promises'
import { canonicalize, generateKeyPair, keyFileExists, loadKeyPair, saveKeyPair, verifyConsistency, verifyInclusion } from '@os2/crypto'
import { KernelError, KernelRequest, REQUEST_TYPES, verifyEventInclusion, verifySnapshotAuth } from '@os2/kernel'
import type { Genesis, KernelRequest as KernelRequestType } from '@os2/kernel'
import { createRemoteKernel, dialKernel, nodeIdentity } from '@os2/federation'
import type { EventEnvelope } from '@os2/kernel'
import type { NodeIdentity, RemoteKernel } from '@os2/federation'
import type { OpenedDataDir, PythonControl, ShellBackend } from './backend.ts'
import { ShellError } from './errors.ts'

/** The shell's key file name inside the data dir (the default for `--key`). */
export const SHELL_KEY_FILE = 'shell.key'

export interface ShellIdentity extends NodeIdentity {
  keyFile: string
  /** True when this call generated the key. */
  created: boolean
}

/**
 * Loads the shell's Ed25519 key from `keyFile`, generating it (mode 0600) on
 * first use. Its libp2p peer id is the principal an operator grants
 * `operator.attach` to (`os2 whoami` prints it).
 */
export async function loadShellIdentity (keyFile: string): Promise<ShellIdentity> {
  let created = false
  if (!(await keyFileExists(keyFile))) {
    await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 })
    await saveKeyPair(keyFile, generateKeyPair())
    created = true
  }
  return { ...nodeIdentity(await loadKeyPair(keyFile)), keyFile, created }
}

/** Where the shell key lives: `--key`, else `<data-dir>/shell.key`. */
export function shellKeyPath (cwd: string, dataDir: string, key: unknown): string {
  return typeof key === 'string' ? resolve(cwd, key) : resolve(dataDir, SHELL_KEY_FILE)
}

export interface AttachBackendInit {
  /** The node's multiaddr (with `/p2p/<peer id>` to pin its identity). */
  address: string
  /** The shell key file (created on first use). */
  keyFile: string
  /** The embedded backend, loaded only for scratch kernels (`scenario-run --fresh` checks). */
  local: () => Promise<ShellBackend>
  /** Dial timeout, ms (default 10000). */
  dialTimeoutMs?: number
}

const PYTHON_STREAMS: Record<string, 'stdout' | 'stderr'> = { 'python.stdout': 'stdout', 'python.stderr': 'stderr' }

/**
 * A `ShellBackend` whose kernel is a node reached over libp2p
 * (`/os2/kernel/1.0.0`). Every `open()` dials one attached session and the
 * kernel's `close()` ends it; the data dir argument is ignored (the node owns
 * its data dir). Python output arrives from the node's `python.stdout` /
 * `python.stderr` ledger events once the token has run, not live.
 */
export function createAttachBackend (init: AttachBackendInit): ShellBackend {
  let identity: Promise<ShellIdentity> | undefined
  const session = async (): Promise<RemoteKernel> => {
    identity ??= loadShellIdentity(init.keyFile)
    const id = await identity
    const client = await dialKernel(init.address, { privateKey: id.libp2pKey, ...(init.dialTimeoutMs !== undefined ? { dialTimeoutMs: init.dialTimeoutMs } : {}) })
    try {
      return await createRemoteKernel(client)
    } catch (err) {
      await client.close().catch(() => undefined)
      throw err
    }
  }
  const using = async <T>(fn: (k: RemoteKernel) => Promise<T>): Promise<T> => {
    const k = await session()
    try {
      return await fn(k)
    } finally {
      await k.close().catch(() => undefined)
    }
  }
  return {
    async init () {
      throw new ShellError('USAGE', `init creates a local data dir; attached to ${init.address} the node already has one (drop --attach)`)
    },
    async open (dir): Promise<OpenedDataDir> {
      const kernel = await session()
      let sink: Parameters<PythonControl['setOutputSink']>[0]
      kernel.onEvent((event: EventEnvelope) => {
        // Emitted by python.exec as custom events { name: 'python.stdout', data: { text } }.
        const { name, data } = event.payload as { name?: unknown, data?: { text?: unknown } | null }
        const stream = typeof name === 'string' ? PYTHON_STREAMS[name] : undefined
        const text = data?.text
        if (stream !== undefined && typeof text === 'string') sink?.(stream, text)
      })
      return {
        dir,
        kernel,
        genesis: kernel.genesis,
        publicKey: kernel.client.hello.publicKey ?? '',
        python: { setOutputSink (s) { sink = s } }
      }
    },
    async isInitialised () {
      return true
    },
    scratch: async (genesis) => await (await init.local()).scratch(genesis),
    async verifyLedger (_dir, onProgress) {
      const result = await using(async k => await k.verifyOnNode())
      onProgress?.(1, 1)
      return result
    },
    replayLedger: async () => await using(async k => await k.replayOnNode()),
    async openLedgerReader () {
      // One session for the reader's life (the process ends it); its mirror checks
      // every event's hash and link, and each read pulls only the new events.
      let open: RemoteKernel | undefined
      let seen = 0
      return {
        read: async () => {
          try {
            open ??= await session()
            await open.refresh()
          } catch (err) {
            await open?.close().catch(() => undefined)
            open = undefined
            throw err
          }
          const out = [...open.ledger.events(seen)]
          seen = open.ledger.size
          return out
        }
      }
    },
    async readPublicKey () {
      const key = await using(async k => k.client.hello.publicKey)
      if (key === null || key === '') throw new ShellError('NO_PUBLIC_KEY', `The node at ${init.address} did not say its public key: pass --public-key`)
      return key
    },
    verifyInclusion: (proof, event) => event !== undefined ? verifyEventInclusion(event, proof) : verifyInclusion({ leafHash: proof.leafHash, index: proof.leafIndex, size: proof.treeSize, path: proof.path, root: proof.root }),
    verifyConsistency: (proof) => verifyConsistency(proof),
    verifySnapshotAuth: async (token, publicKey) => ({ ...await verifySnapshotAuth(token, publicKey) }),
    validateRequest
  }
}

/**
 * The same checks as the embedded backend (size, shape, type, schema), here so
 * an attached shell never loads the embedded kernel's sandbox; the node checks
 * again at its entry.
 */
function validateRequest (raw: unknown, genesis: Genesis): KernelRequestType {
  let encoded: string
  try {
    encoded = canonicalize(raw)
  } catch (err) {
    throw new KernelError('BAD_REQUEST', `Cannot read request: ${(err as Error).message}`)
  }
  const bytes = Buffer.byteLength(encoded)
  if (bytes > genesis.limits.maxRequestBytes) throw new KernelError('PAYLOAD_TOO_LARGE', `Request is ${bytes} bytes, the limit is ${genesis.limits.maxRequestBytes}`)
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new KernelError('BAD_REQUEST', 'Request must be a JSON object')
  const type = (raw as Record<string, unknown>).type
  if (typeof type !== 'string' || !(REQUEST_TYPES as readonly string[]).includes(type)) {
    throw new KernelError('UNKNOWN_REQUEST_TYPE', `Unknown request type ${JSON.stringify(type ?? null)}: expected one of ${REQUEST_TYPES.join(', ')}`)
  }
  const parsed = KernelRequest.safeParse(raw)
  if (!parsed.success) {
    const issue = parsed.error.issues[0]
    const where = issue === undefined ? 'invalid' : `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`
    throw new KernelError('SCHEMA_VIOLATION', `Invalid ${type} request: ${where}`)
  }
  return parsed.data
}
