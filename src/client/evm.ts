// Ethereum accounts in the SDK (issue 9, decision 0025): binding an account to the client's
// MSP identity, so that the account's transactions are accepted through Ethereum JSON-RPC.
import { bindingMessage, defaultChainId } from '../evm/binding.js';
import { recordMaps } from '../evm/records.js';
import type { Client, TxResult } from './client.js';

/** The consortium's EVM chain id (its governed value, or the default). */
export async function evmChainId(client: Client): Promise<number> {
  const stored = await client.state(recordMaps.params, 'params');
  return stored === undefined
    ? defaultChainId
    : (JSON.parse(stored) as { chainId: number }).chainId;
}

/**
 * Binds `address` to the client's identity: `signMessage` is the account's EIP-191
 * personal_sign (an ethers Wallet's `signMessage`, a wallet app's `personal_sign`) of the
 * binding message. Resolves once the ledger committed or refused it.
 */
export async function bindEthereumAccount(
  client: Client,
  address: string,
  signMessage: (message: string) => Promise<string>,
): Promise<TxResult> {
  const message = bindingMessage(
    await evmChainId(client),
    address,
    client.identity.mspId,
    client.identity.certRef,
  );
  const signature = await signMessage(message);
  return client.submit('evm', 'bind', { address, signature }, { wait: 'commit' });
}

/** The binding message `address` must sign for the client's identity (to sign elsewhere). */
export async function ethereumBindingMessage(client: Client, address: string): Promise<string> {
  return bindingMessage(
    await evmChainId(client),
    address,
    client.identity.mspId,
    client.identity.certRef,
  );
}
