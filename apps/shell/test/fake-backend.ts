import { hashCanonical, ZERO_HASH } from '@os2/crypto'
import type {
  CapabilityInfo, EventEnvelope, Genesis, Grant, Kernel, KernelRequest, KernelResponse, LedgerView, SnapshotManager, SnapshotSummary, TokenStatus
} from '@os2/kernel'
import type { InitResult, OpenedDataDir, ShellBackend } from '../src/backend.ts'
import type { ShellIO } from '../src/shell-io.ts'
import { NO_PROGRESS } from '../src/progress.ts'

/**
 * A hand-written in-memory kernel and backend, enough to exercise the CLI's
 * parsing, formatting and exit codes without the real kernel.
 */
export const FAKE_GENESIS: Genesis = {
  version: 1,
  seed: '0',
  operator: 'operator',
  limits: { maxRequestBytes: 4096, maxPayloadBytes: 1024, defaultBudget: { tokens: 100, memory: 100, network: 100, wallClockMs: 100 }, agingTicks: 16 },
  capabilities: { 'kernel.emit': { ceiling: 1000, cost: 1 }, 'kernel.state.put': { ceiling: 1000, cost: 1 } }
}

class FakeKernel implements Kernel {
  readonly genesis: Genesis
  readonly received: unknown[] = []
  readonly events: EventEnvelope[] = []
  readonly #tokens = new Map<string, TokenStatus>()
  readonly #grants: Grant[] = []
  readonly #snapshots: Array<SnapshotSummary & { state: Record<string, string> }> = []
  readonly #kv = new Map<string, string>()
  closed = false

  constructor (genesis: Genesis) { this.genesis = genesis }

  #append (type: string, payload: Record<string, string | number>, tokenId: string | null = null): number {
    const seq = this.events.length
    const draft = { event_id: `e${seq}`, seq, tick: seq, type, capability_id: null, token_id: tokenId, payload, prev_hash: this.events[seq - 1]?.hash ?? ZERO_HASH }
    this.events.push({ ...draft, hash: hashCanonical(draft) })
    return seq
  }

  #respond (disposition: KernelResponse['disposition'], result?: unknown, error?: { code: string, message: string }): KernelResponse {
    const r: KernelResponse = { disposition, ledgerSeq: this.events.length - 1, ledgerHash: this.ledger.head }
    if (result !== undefined) r.result = result
    if (error !== undefined) r.error = error
    return r
  }

  get ledger (): LedgerView {
    const events = this.events
    return {
      get size () { return events.length },
      get head () { return events[events.length - 1]?.hash ?? ZERO_HASH },
      get: (seq) => events[seq],
      events: (from = 0, to = events.length) => events.slice(from, to),
      root: (size = events.length) => hashCanonical(events.slice(0, size).map(e => e.hash)),
      inclusionProof: (seq, size = events.length) => ({ leafIndex: seq, treeSize: size, leafHash: events[seq]?.hash ?? '', path: [], root: hashCanonical(events.slice(0, size).map(e => e.hash)) }),
      consistencyProof: (oldSize, newSize = events.length) => ({ oldSize, newSize, oldRoot: hashCanonical(events.slice(0, oldSize).map(e => e.hash)), newRoot: hashCanonical(events.slice(0, newSize).map(e => e.hash)), path: [] }),
      verify: () => ({ ok: true, size: events.length, head: events[events.length - 1]?.hash ?? ZERO_HASH })
    }
  }

  async handle (request: unknown): Promise<KernelResponse> {
    this.received.push(request)
    const r = request as KernelRequest
    switch (r.type) {
      case 'SubmitToken': {
        if (!(r.token.capability in this.genesis.capabilities)) {
          this.#append('request_rejected', { code: 'UNKNOWN_CAPABILITY' })
          return this.#respond('rejected', undefined, { code: 'UNKNOWN_CAPABILITY', message: `No capability descriptor has id ${r.token.capability}` })
        }
        this.#tokens.set(r.token.id, { token: r.token, state: 'scheduled', submittedSeq: this.#append('scheduled', {}, r.token.id), budget: { tokens: 100, memory: 100, network: 100, wallClockMs: 100 }, used: { tokens: 0, memory: 0, network: 0, wallClockMs: 0 } })
        return this.#respond('queued', { tokenId: r.token.id })
      }
      case 'CancelToken': {
        const t = this.#tokens.get(r.tokenId)
        if (t === undefined) return this.#respond('rejected', undefined, { code: 'UNKNOWN_TOKEN', message: `No token has id ${r.tokenId}` })
        t.state = 'cancelled'
        this.#append('cancelled', {}, r.tokenId)
        return this.#respond('accepted')
      }
      case 'GrantCapability': {
        const grant: Grant = { id: `g${this.#grants.length + 1}`, principal: r.grant.principal, capability: r.grant.capability, scope: r.grant.scope, validFrom: r.grant.validFrom ?? 0, validUntil: r.grant.validUntil ?? null, version: 1, revoked: false }
        this.#grants.push(grant)
        this.#append('capability_granted', { grant: grant.id })
        return this.#respond('accepted', { grantId: grant.id })
      }
      case 'RevokeCapability': {
        const g = this.#grants.find(x => x.id === r.grantId)
        if (g === undefined) return this.#respond('rejected', undefined, { code: 'UNKNOWN_GRANT', message: `No grant has id ${r.grantId}` })
        g.revoked = true
        this.#append('capability_revoked', { grant: g.id })
        return this.#respond('accepted')
      }
      case 'CreateSnapshot': {
        const summary = await this.snapshots.create(r.label)
        return this.#respond('accepted', summary)
      }
      default:
        return this.#respond('accepted')
    }
  }

  async step (): Promise<boolean> {
    for (const t of this.#tokens.values()) {
      if (t.state !== 'scheduled') continue
      const args = (t.token.args ?? {}) as Record<string, unknown>
      if (args.fail === true) {
        t.state = 'failed'
        t.error = { code: 'HANDLER_FAILED', message: 'asked to fail' }
        this.#append('failed', {}, t.token.id)
      } else {
        t.state = 'completed'
        t.used.tokens = 1
        t.result = { ok: true }
        if (typeof args.key === 'string') this.#kv.set(args.key, String(args.value))
        this.#append('completed', {}, t.token.id)
      }
      return true
    }
    return false
  }

  async runUntilIdle (): Promise<number> {
    let n = 0
    while (await this.step()) n++
    return n
  }

  capabilities (): CapabilityInfo[] {
    return Object.entries(this.genesis.capabilities).map(([id, limits]) => ({ id, version: 1, description: `fake ${id}`, argsSchema: { type: 'object' }, limits, usage: { invocations: 0, tokensCharged: 0 } }))
  }

  grants (): Grant[] { return this.#grants }
  token (id: string): TokenStatus | undefined { return this.#tokens.get(id) }
  tokens (): TokenStatus[] { return [...this.#tokens.values()] }
  kv (): Array<{ namespace: string, key: string, value: string }> { return [...this.#kv].sort().map(([key, value]) => ({ namespace: 'default', key, value })) }
  stateHash (): string { return hashCanonical([...this.#kv].sort()) }

  get snapshots (): SnapshotManager {
    const find = (id: string): SnapshotSummary & { state: Record<string, string> } => {
      const s = this.#snapshots.find(x => x.id === id)
      if (s === undefined) throw Object.assign(new Error(`No snapshot has id ${id}`), { code: 'UNKNOWN_SNAPSHOT' })
      return s
    }
    return {
      create: async (label = '') => {
        const state = Object.fromEntries(this.#kv)
        const s = { id: `snap-${this.#snapshots.length + 1}`, label, timestamp: this.events.length, ledgerSeq: this.events.length - 1, ledgerHead: this.ledger.head, stateHash: hashCanonical(state), ready: false, state }
        this.#snapshots.push(s)
        this.#append('snapshot_created', { snapshot: s.id })
        const { state: _state, ...summary } = s
        return summary
      },
      list: async () => this.#snapshots.map(({ state: _state, ...summary }) => summary),
      show: async (id) => find(id),
      diff: async (a, b) => {
        const x = find(a).state
        const y = find(b).state
        const keys = [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()
        return { from: a, to: b, changes: keys.filter(k => x[k] !== y[k]).map(k => ({ path: `kv/default/${k}`, ...(x[k] !== undefined ? { before: x[k] } : {}), ...(y[k] !== undefined ? { after: y[k] } : {}) })) }
      },
      replay: async (id) => ({ ok: true, snapshotId: find(id).id, eventsReplayed: this.events.length, head: this.ledger.head }),
      auth: async (id) => `fake.${Buffer.from(JSON.stringify({ snapshot: find(id).id })).toString('base64url')}.sig`,
      setReady: async (id) => { find(id).ready = true }
    }
  }

  async close (): Promise<void> { this.closed = true }
}

export interface FakeBackend extends ShellBackend {
  kernel: FakeKernel | undefined
  initialised: boolean
}

function fail (code: string, message: string): Error {
  return Object.assign(new Error(message), { code })
}

/** A backend whose data dir lives in memory: `init` makes it exist, `open` hands out one shared fake kernel. */
export function createFakeBackend (): FakeBackend {
  const backend: FakeBackend = {
    kernel: undefined,
    initialised: false,
    async init (dir, init): Promise<InitResult> {
      if (backend.initialised) throw fail('DATA_DIR_EXISTS', `Cannot create data dir ${dir}: it is already initialised`)
      backend.initialised = true
      const genesis = { ...FAKE_GENESIS, seed: init.seed }
      backend.kernel = new FakeKernel(genesis)
      return { dir, genesis, publicKey: 'fake-public-key', genesisHash: hashCanonical(genesis) }
    },
    async open (dir): Promise<OpenedDataDir> {
      if (!backend.initialised || backend.kernel === undefined) throw fail('DATA_DIR_MISSING', `Data dir ${dir} does not exist: run os2 init first`)
      backend.kernel.closed = false
      return { dir, kernel: backend.kernel, genesis: backend.kernel.genesis, publicKey: 'fake-public-key' }
    },
    async isInitialised () { return backend.initialised },
    async scratch (genesis) { return new FakeKernel(genesis) },
    async verifyLedger (dir, onProgress) {
      if (backend.kernel === undefined) throw fail('DATA_DIR_MISSING', `Data dir ${dir} does not exist`)
      onProgress?.(backend.kernel.events.length, backend.kernel.events.length)
      const events = backend.kernel.events
      for (const [i, e] of events.entries()) {
        const { hash, ...rest } = e
        if (hashCanonical(rest) !== hash) return { ok: false, size: i, firstBadSeq: i, reason: 'hash_mismatch', message: `Event ${i} hash does not match its content` }
      }
      return { ok: true, size: events.length, head: backend.kernel.ledger.head }
    },
    async replayLedger () {
      const kernel = backend.kernel
      return { ok: true, snapshotId: 'genesis', eventsReplayed: kernel?.events.length ?? 0, head: kernel?.ledger.head ?? '' }
    },
    async openLedgerReader (dir) {
      const kernel = backend.kernel
      if (kernel === undefined) throw fail('DATA_DIR_MISSING', `Data dir ${dir} does not exist`)
      let seen = 0
      return {
        read: async () => {
          const fresh = kernel.events.slice(seen)
          seen = kernel.events.length
          return fresh
        }
      }
    },
    async readPublicKey () { return 'fake-public-key' },
    verifyInclusion: (proof) => proof.path.length === 0,
    verifyConsistency: (proof) => proof.path.length === 0,
    async verifySnapshotAuth (token, publicKey) {
      const parts = token.split('.')
      if (publicKey !== 'fake-public-key' || parts.length !== 3 || parts[0] !== 'fake' || parts[2] !== 'sig') throw fail('TOKEN_INVALID', 'Cannot verify token: signature does not match')
      return JSON.parse(Buffer.from(parts[1] ?? '', 'base64url').toString()) as Record<string, unknown>
    },
    validateRequest (raw, genesis): KernelRequest {
      if (typeof raw !== 'object' || raw === null) throw fail('BAD_REQUEST', 'Request is not an object')
      const type = (raw as { type?: unknown }).type
      if (!['SubmitToken', 'CancelToken', 'CreateSnapshot', 'ListSnapshots', 'GrantCapability', 'RevokeCapability', 'StreamEvents', 'ReplaySnapshot'].includes(String(type))) throw fail('UNKNOWN_REQUEST_TYPE', `Unknown request type ${String(type)}`)
      if (JSON.stringify(raw).length > genesis.limits.maxRequestBytes) throw fail('PAYLOAD_TOO_LARGE', 'Request too large')
      if (type === 'SubmitToken') {
        const token = (raw as { token?: Record<string, unknown> }).token ?? {}
        if (typeof token.id !== 'string' || typeof token.principal !== 'string') throw fail('SCHEMA_VIOLATION', 'token.id and token.principal are required')
        return { type: 'SubmitToken', token: { args: {}, priority: 0, after: [], budget: {}, ...token } } as unknown as KernelRequest
      }
      return raw as KernelRequest
    }
  }
  return backend
}

export interface CapturedIO extends ShellIO {
  out: string[]
  err: string[]
  stdoutText(): string
  stderrText(): string
}

/** A ShellIO that records what the CLI prints. */
export function captureIO (init: { cwd: string, stdin?: string, dataDir?: string, signal?: AbortSignal }): CapturedIO {
  const out: string[] = []
  const err: string[] = []
  return {
    out,
    err,
    stdoutText: () => out.join(''),
    stderrText: () => err.join(''),
    stdout: { write: (s) => { out.push(s) }, isTTY: false },
    stderr: { write: (s) => { err.push(s) } },
    readStdin: async () => init.stdin ?? '',
    envDataDir: init.dataDir,
    cwd: init.cwd,
    now: () => new Date('2026-01-01T00:00:00.000Z'),
    signal: init.signal ?? new AbortController().signal,
    progress: async () => NO_PROGRESS
  }
}
