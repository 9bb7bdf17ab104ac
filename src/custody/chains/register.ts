// What the Ethereum and Bitcoin workers share in prepareWallet: the wallet's deposit address is
// registered on the ledger (add_address) once, asked first, so that a restarted worker or a
// second one submits nothing for an address already there; and one preparation per wallet runs
// at a time, concurrent callers sharing it.
import { cofferError } from '../../errors/index.js';
import type { CustodyChain, WalletRecord } from '../types.js';
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

/** registerAddress at most once per wallet in this process; nothing without a ledger. */
export function addressRegistrar(
  ledger: LedgerPort | undefined,
  chain: CustodyChain,
): (walletId: string, address: string) => Promise<void> {
  const registered = new Set<string>();
  return async (walletId, address) => {
    if (ledger === undefined || registered.has(walletId)) return;
    await registerAddress(ledger, chain, walletId, address);
    registered.add(walletId);
  };
}

/** `prepare` run at most once at a time per wallet: a call while one runs gets its result. */
export function oneAtATime(
  prepare: (wallet: WalletRecord) => Promise<string>,
): (wallet: WalletRecord) => Promise<string> {
  const preparing = new Map<string, Promise<string>>();
  return (wallet) => {
    const running = preparing.get(wallet.id);
    if (running !== undefined) return running;
    const started = prepare(wallet).finally(() => preparing.delete(wallet.id));
    preparing.set(wallet.id, started);
    return started;
  };
}
