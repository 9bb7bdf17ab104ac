// anvil as the Ethereum tests use it: the node, a custody provider on it polling every 20 ms,
// and `mined`, which polls for a sent transaction's receipt (anvil mines no block after it).
// No vitest imports.
import type { JsonRpcProvider, TransactionReceipt } from 'ethers';
import { ethereumProvider, receiptOf } from '../../src/custody/chains/ethereum.js';
import { startAnvil, type Anvil } from './anvil.js';

const pollMs = 20;
const receiptWaitMs = 10_000;

export type AnvilSession = {
  readonly anvil: Anvil;
  readonly provider: JsonRpcProvider;
  readonly mined: (sent: Promise<{ readonly hash: string }>) => Promise<TransactionReceipt>;
  /** Stops the provider, then anvil. */
  readonly stop: () => Promise<void>;
};

export async function startAnvilSession(): Promise<AnvilSession> {
  const anvil = await startAnvil();
  const provider = ethereumProvider(anvil.url, pollMs);
  return {
    anvil,
    provider,
    mined: async (sent) => receiptOf(provider, (await sent).hash, receiptWaitMs, pollMs),
    stop: async () => {
      provider.destroy();
      await anvil.stop();
    },
  };
}
