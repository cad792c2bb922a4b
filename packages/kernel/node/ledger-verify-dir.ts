import { createMerkleTree } from '@os2/crypto'
import { KernelError } from '../src/errors.ts'
import { verifyCheckpoint } from '../src/ledger/checkpoint.ts'
import type { VerifyResult } from '../src/ledger/types.ts'
import { readCheckpoints } from './file-ledger-storage.ts'
import { nodeLedgerFs } from './ledger-fs.ts'
import type { LedgerFs } from './ledger-fs.ts'
import { scanSegments } from './ledger-segments.ts'

/** `verifyLedgerDir`'s answer: the chain verdict plus what was looked at. */
export type LedgerDirVerifyResult = VerifyResult & { segments: number, checkpoints: number }

export interface VerifyLedgerDirOptions {
  /** Checkpoints must be signed by this key (base64url); default: each checkpoint's own key. */
  publicKey?: string
  fs?: LedgerFs
}

/**
 * Verifies a ledger dir without repairing anything (for `os2 ledger-verify`):
 * every line must parse, be canonical, hash correctly and link to the one before;
 * a partial record anywhere, a torn tail included, is reported as `truncated`;
 * every signed checkpoint must verify and match the Merkle root of the events
 * at its size (so a cut at a line boundary behind a checkpoint is caught).
 *
 * @throws KernelError `DATA_DIR_MISSING` when `dir` does not exist (an empty dir is an empty, valid ledger)
 * @example
 * const r = await verifyLedgerDir(join(dataDir, 'ledger'))
 * if (!r.ok) console.error(`first bad seq ${r.firstBadSeq}: ${r.message}`)
 */
export async function verifyLedgerDir (dir: string, options: VerifyLedgerDirOptions = {}): Promise<LedgerDirVerifyResult> {
  const fs = options.fs ?? nodeLedgerFs
  if (!await fs.exists(dir)) throw new KernelError('DATA_DIR_MISSING', `Cannot verify ledger ${dir}: no such directory`)
  const tree = createMerkleTree()
  const scan = await scanSegments(fs, dir, { collect: false, onEvent: e => { tree.append(Buffer.from(e.hash, 'hex')) } })
  const v = scan.verifier
  if (scan.tornTail !== undefined) {
    v.truncated(`segment ${scan.tornTail.segment} ends with a partial record of ${scan.tornTail.droppedBytes} bytes`)
  }
  const base = { segments: scan.segments.length }
  const chain = v.result()
  const { checkpoints, bad } = await readCheckpoints(fs, dir)
  if (!chain.ok) return { ...chain, ...base, checkpoints: checkpoints.length }
  const size = chain.size
  let covered = 0
  for (let i = 0; i < checkpoints.length; i++) {
    const cp = checkpoints[i]
    const fail = (reason: 'checkpoint_invalid' | 'truncated', firstBadSeq: number, detail: string): LedgerDirVerifyResult => ({
      ok: false, size: firstBadSeq, firstBadSeq, reason, message: `Cannot verify checkpoint ${i}: ${detail}`, ...base, checkpoints: checkpoints.length
    })
    if (cp === undefined || !verifyCheckpoint(cp, options.publicKey !== undefined ? { publicKey: options.publicKey } : {})) {
      return fail('checkpoint_invalid', covered, 'signature does not verify')
    }
    if (cp.size > size) return fail('truncated', size, `it covers ${cp.size} events but the ledger holds ${size}: events were cut`)
    if (tree.root(cp.size) !== cp.root) return fail('checkpoint_invalid', covered, `Merkle root at size ${cp.size} does not match the events`)
    covered = Math.max(covered, cp.size)
  }
  if (bad !== undefined) {
    return { ok: false, size, firstBadSeq: size, reason: 'checkpoint_invalid', message: `Cannot verify checkpoint ${bad}: the line is not valid JSON`, ...base, checkpoints: checkpoints.length }
  }
  return { ...chain, ...base, checkpoints: checkpoints.length }
}
