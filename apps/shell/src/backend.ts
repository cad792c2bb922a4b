import type {
  ConsistencyProof, EventEnvelope, Genesis, InclusionProof, Kernel, KernelRequest, ReplayReport, VerifyResult
} from '@os2/kernel'
import type { FederationReplica, NodeIdentity } from '@os2/federation'

/** The live side of the Python capabilities of an opened data dir (absent in fakes). */
export interface PythonControl {
  /** Where the output of a live python.exec run goes while it runs (replay never calls it). */
  setOutputSink(sink: ((stream: 'stdout' | 'stderr', text: string) => void) | undefined): void
}

/** The federation side of an opened data dir: memories behind the memory.* capabilities (absent in fakes). */
export interface FederationControl {
  /** Loads the replica on first use (recovering its journal); memory tokens do it themselves. */
  open(): Promise<{ identity: NodeIdentity, replica: FederationReplica }>
  /** Resolves once the verdicts and commits recorded so far are in the ledger. */
  flush(): Promise<void>
}

/** Options for {@link ShellBackend.open}. */
export interface OpenOptions {
  /** Python sessions started by this process: restore from the Pyodide memory snapshot (default true). */
  python?: { snapshot?: boolean }
}

/** A kernel opened on a data dir. `kernel.close()` releases it. */
export interface OpenedDataDir {
  dir: string
  kernel: Kernel
  genesis: Genesis
  /** The node's Ed25519 public key (base64url). */
  publicKey: string
  /** The Python runtime behind python.exec / pip.install / module.mount. */
  python?: PythonControl
  /** The memories of this node (`<data-dir>/memories`, `<data-dir>/federation`). */
  federation?: FederationControl
}

export interface InitResult {
  dir: string
  genesis: Genesis
  publicKey: string
  genesisHash: string
}

/** Reports work done so far for the progress bar. */
export type ProgressCallback = (done: number, total: number) => void

/**
 * What the shell needs from the kernel and the data dir. `main.ts` wires the
 * real one (`createNodeBackend`, lazy-loaded); tests may pass a fake.
 */
export interface ShellBackend {
  /** Creates a data dir; throws `DATA_DIR_EXISTS` when one is already there. */
  init(dir: string, init: { seed: string, limitsToml?: string }): Promise<InitResult>
  /** Opens the kernel; throws `DATA_DIR_MISSING`, `DATA_DIR_UNREADABLE` or `GENESIS_INVALID`. */
  open(dir: string, options?: OpenOptions): Promise<OpenedDataDir>
  /** True when `dir` holds an initialised data dir (genesis.json present). */
  isInitialised(dir: string): Promise<boolean>
  /** An in-memory kernel on `genesis` (nothing touches the disk), closed by the caller. */
  scratch(genesis: Genesis): Promise<Kernel>
  /** Verifies the ledger files without repairing or changing them. */
  verifyLedger(dir: string, onProgress?: ProgressCallback): Promise<VerifyResult>
  /**
   * Re-executes the whole ledger from genesis in a scratch kernel (read-only,
   * no lock) and reports the first event whose hash differs.
   */
  replayLedger(dir: string): Promise<ReplayReport>
  /**
   * A read-only reader of the ledger files (no lock, no repair): each `read()`
   * returns the events appended since the previous call, all of them the first time.
   */
  openLedgerReader(dir: string): Promise<{ read(): Promise<EventEnvelope[]> }>
  /** The node public key stored in the data dir (base64url). */
  readPublicKey(dir: string): Promise<string>
  /** Verifies an inclusion proof; with `event`, also that the proven leaf is that event. */
  verifyInclusion(proof: InclusionProof, event?: EventEnvelope): boolean
  verifyConsistency(proof: ConsistencyProof): boolean
  /** Verifies a `snapshot-auth` token offline; resolves to its claims, throws when invalid. */
  verifySnapshotAuth(token: string, publicKey: string): Promise<Record<string, unknown>>
  /**
   * Validates a protocol request before it reaches the kernel, so bad input
   * leaves the ledger untouched: throws `BAD_REQUEST`, `UNKNOWN_REQUEST_TYPE`,
   * `SCHEMA_VIOLATION` or `PAYLOAD_TOO_LARGE`.
   */
  validateRequest(raw: unknown, genesis: Genesis): KernelRequest
}
