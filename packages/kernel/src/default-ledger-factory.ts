import { createLedger, openLedger } from './ledger/index.ts'
import type { LedgerFactory, OpenedLedger } from './kernel-ledger.ts'
import type { LedgerStorage } from './ledger/types.ts'

/** The kernel's own ledger (`src/ledger/`): scratch ledgers in memory, stored ones verified on open. */
export const defaultLedgerFactory: LedgerFactory = {
  create: () => createLedger({}),
  async open (storage: LedgerStorage): Promise<OpenedLedger> {
    const ledger = await openLedger(storage)
    // openLedger verifies every hash and link (or checks the links of events the storage verified).
    return { ledger, repaired: ledger.repaired, verified: true }
  }
}
