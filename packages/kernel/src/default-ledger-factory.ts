import { createLedger, openLedgerVerifying } from './ledger/index.ts'
import type { LedgerFactory, OpenedLedger } from './kernel-ledger.ts'
import type { LedgerStorage } from './ledger/types.ts'

/** The kernel's own ledger (`src/ledger/`): in memory without storage, stored ones verified on open. */
export const defaultLedgerFactory: LedgerFactory = {
  create: () => createLedger({}),
  async open (storage: LedgerStorage): Promise<OpenedLedger> {
    // Every hash and link is verified (or the storage verified it, or is verifying it on another
    // thread: then the kernel replays meanwhile and awaits `pendingVerification` before it reports).
    const { ledger, pendingVerification } = await openLedgerVerifying(storage)
    return { ledger, repaired: ledger.repaired, verified: true, ...(pendingVerification !== undefined ? { pendingVerification } : {}) }
  }
}
