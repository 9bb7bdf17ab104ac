// A chain worker registers a wallet's deposit address on the ledger (add_address) once: asked
// first, so that a restarted worker or a second one submits nothing for an address already
// there. Shared by the Ethereum and Bitcoin workers.
import { cofferError } from '../../errors/index.js';
import type { CustodyChain } from '../types.js';
import type { LedgerPort } from './types.js';

export async function registerAddress(
  ledger: LedgerPort,
  chain: CustodyChain,
  walletId: string,
  address: string,
): Promise<void> {
  const known = await ledger.query('custody', 'address', { chain, address }).then(
    () => true,
    (error: unknown) => {
      if ((error as { code?: unknown } | null)?.code === 'CUSTODY_E_NOT_FOUND') return false;
      throw error;
    },
  );
  if (known) return;
  const result = await ledger.submit(
    'custody',
    'add_address',
    { walletId, address },
    { wait: 'commit' },
  );
  if (result.status !== 'Committed')
    throw cofferError(
      'APP_E_FAILED',
      `add_address ${address} of wallet ${walletId}: ${result.status} ${result.code ?? ''} ${result.message ?? ''}`.trim(),
    );
}
