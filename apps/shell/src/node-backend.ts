import { canonicalize, verifyConsistency, verifyInclusion } from '@os2/crypto'
import { createKernel, KernelError, KernelRequest, replayLedger, REQUEST_TYPES, verifyEventInclusion, verifySnapshotAuth } from '@os2/kernel'
import type { Genesis, KernelRequest as KernelRequestType } from '@os2/kernel'
import { checkDataDir, dataDirPaths, initDataDir, loadDataDir, openDataDir, readDataDirPublicKey, readGenesis, verifyLedgerDir } from '@os2/kernel/node'
import { createPythonRuntime } from '@os2/sandbox'
import { createFileStorage, createKernelFederation, createMemoryCapabilities } from '@os2/federation/kernel'
import type { ShellBackend } from './backend.ts'
import { createLedgerReader } from './ledger-reader.ts'

function firstIssue (issues: ReadonlyArray<{ path: PropertyKey[], message: string }>): string {
  const issue = issues[0]
  if (issue === undefined) return 'invalid'
  return `${issue.path.length > 0 ? issue.path.map(String).join('.') : '(root)'}: ${issue.message}`
}

/**
 * Validates the request envelope the way the kernel does (size, shape, type,
 * schema) so bad input is refused before it reaches the ledger. Capability
 * existence and argument schemas are checked by the kernel itself.
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
  if (!parsed.success) throw new KernelError('SCHEMA_VIOLATION', `Invalid ${type} request: ${firstIssue(parsed.error.issues)}`)
  return parsed.data
}

/** Memory capability descriptors for kernels that only replay (their results come from the ledger). */
function memoryDescriptors (): ReturnType<typeof createMemoryCapabilities> {
  return createMemoryCapabilities({ replica: () => { throw new RangeError('Cannot read memories: this kernel only replays') } })
}

/** The real backend: data dirs on disk, the embedded kernel, offline verifiers. */
export function createNodeBackend (): ShellBackend {
  return {
    async init (dir, init) {
      const r = await initDataDir(dir, init)
      return { dir, genesis: r.genesis, publicKey: r.publicKey, genesisHash: r.genesisHash }
    },
    async open (dir, options = {}) {
      // Genesis and key first, so a missing or unusable data dir fails with its
      // DATA_DIR_* / GENESIS_INVALID code before anything else is started.
      const { signer } = await loadDataDir(dir)
      // The Python capabilities are always registered: the ledger may hold
      // python.exec tokens, and replaying them on open never starts Python.
      const python = createPythonRuntime({ dataDir: dir, ...options.python })
      // The memory capabilities likewise: replay serves their recorded results and never touches the memories.
      // The replica (Yjs, the journal, federation/ and memories/) loads on first use, not on every open.
      const federation = createKernelFederation({ keyPair: signer, storage: () => createFileStorage(dir) })
      const opened = await openDataDir(dir, { descriptors: [...python.descriptors, ...federation.descriptors] }).catch(async (err: unknown) => { await python.close(); throw err })
      federation.attach(opened.kernel)
      const close = opened.kernel.close.bind(opened.kernel)
      opened.kernel.close = async () => {
        try {
          await federation.close()
          await python.close()
        } finally { await close() }
      }
      const control = { open: () => federation.open(), flush: () => federation.ledger.flush() }
      return { dir, kernel: opened.kernel, genesis: opened.genesis, publicKey: opened.signer.publicKey, python, federation: control }
    },
    async scratch (genesis) {
      return await createKernel({}, { genesis, descriptors: [...createPythonRuntime({ dataDir: '/nonexistent' }).descriptors, ...memoryDescriptors()] })
    },
    async isInitialised (dir) {
      try {
        await checkDataDir(dir)
        return true
      } catch {
        return false
      }
    },
    async verifyLedger (dir, onProgress) {
      const paths = await checkDataDir(dir)
      const publicKey = await readDataDirPublicKey(dir)
      const result = await verifyLedgerDir(paths.ledger, { publicKey })
      onProgress?.(1, 1)
      return result
    },
    async replayLedger (dir) {
      const genesis = await readGenesis(dir)
      const events = await createLedgerReader(dataDirPaths(dir).ledger).read()
      // The same descriptors as open(), so python.exec tokens replay from their recorded results.
      return await replayLedger(events, { genesis, descriptors: [...createPythonRuntime({ dataDir: '/nonexistent' }).descriptors, ...memoryDescriptors()] })
    },
    async openLedgerReader (dir) {
      const paths = await checkDataDir(dir)
      return createLedgerReader(paths.ledger)
    },
    async readPublicKey (dir) {
      return await readDataDirPublicKey(dir)
    },
    verifyInclusion: (proof, event) => event !== undefined ? verifyEventInclusion(event, proof) : verifyInclusion({ leafHash: proof.leafHash, index: proof.leafIndex, size: proof.treeSize, path: proof.path, root: proof.root }),
    verifyConsistency: (proof) => verifyConsistency(proof),
    async verifySnapshotAuth (token, publicKey) {
      return { ...await verifySnapshotAuth(token, publicKey) }
    },
    validateRequest
  }
}
