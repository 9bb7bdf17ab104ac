// Recovery of an Ethereum wallet without the ledger and without the HSM (issue 8): the offline
// key and the service key, 2 of the Safe's 3 owners, move funds out of the wallet's Safe from
// files. A recovery request file carries the SafeTx and its digest in the shape the offline
// signing tool reads (`coffer custody offline sign`: withdrawalId, walletId, digests; the other
// fields are ignored by it); each key holder returns a signature file (publicKey, r‖s); anyone
// with gas sends execTransaction. Runbook: docs/decisions/0022-ethereum-custody.md.
import { Contract, Interface, Wallet, getAddress } from 'ethers';
import { cofferError } from '../../errors/index.js';
import { etherAsset, ethereumProvider, receiptOf, safeArtifact } from './ethereum.js';
import {
  callSafeTx,
  decodeSafeTxEnvelope,
  encodeSafeTxEnvelope,
  erc20TransferData,
  execTransactionArgs,
  ownerAddressOf,
  packSafeSignatures,
  safeSignatureOf,
  safeTxHash,
  type SafeTxEnvelope,
} from './safe.js';

export const ethereumRecoveryFormat = 'coffer-ethereum-recovery/1';
/** How long executeEthereumRecovery waits for its transaction to be mined. */
export const recoveryWaitMsMax = 300_000;

/** The recovery request file (JSON). */
export type EthereumRecoveryRequest = {
  readonly format: typeof ethereumRecoveryFormat;
  /** `recovery:<Safe>:<nonce>`: what the offline tool records as the withdrawal it signed. */
  readonly withdrawalId: string;
  readonly walletId: string;
  /** Lower-case hex of the SafeTx hash, what the keys sign (the one element). */
  readonly digests: readonly [string];
  /** encodeSafeTxEnvelope of the SafeTx. */
  readonly unsignedTx: string;
  /** For the people who sign: what moves where. */
  readonly summary: string;
};

/** A signature file: the offline tool's (`coffer-offline-signature/2`) or the service's. */
export type RecoverySignature = {
  readonly digests: readonly string[];
  readonly publicKey: string;
  /** Hex: r‖s or DER, aligned with `digests`. */
  readonly signatures: readonly string[];
};

const erc20 = new Interface(['function balanceOf(address owner) view returns (uint256)']);

/**
 * A recovery request that moves `amount` (default: the whole balance) of ether or of the
 * token at `token` from the wallet's Safe to `destination`, at the Safe's current nonce.
 */
export async function prepareEthereumRecovery(options: {
  readonly rpcUrl: string;
  readonly walletId: string;
  readonly safe: string;
  readonly destination: string;
  /** ERC-20 contract; absent: ether. */
  readonly token?: string;
  readonly amount?: bigint;
}): Promise<EthereumRecoveryRequest> {
  const provider = ethereumProvider(options.rpcUrl);
  try {
    const safe = getAddress(options.safe);
    const contract = new Contract(safe, safeArtifact('Safe').abi as never, provider);
    const nonce = (await contract.getFunction('nonce')()) as bigint;
    const chainId = (await provider.getNetwork()).chainId.toString();
    const token = options.token === undefined ? null : getAddress(options.token);
    const balance = async (): Promise<bigint> =>
      token === null
        ? provider.getBalance(safe)
        : ((await new Contract(token, erc20, provider).getFunction('balanceOf')(safe)) as bigint);
    const awaited = options.amount ?? (await balance());
    if (awaited <= 0n)
      throw cofferError('APP_E_INVALID_ARGS', `Safe ${safe} holds nothing of this asset to move`);
    const tx =
      token === null
        ? callSafeTx(options.destination, awaited, '0x', nonce)
        : callSafeTx(token, 0n, erc20TransferData(options.destination, awaited), nonce);
    const envelope: SafeTxEnvelope = { chainId, safe, tx };
    return {
      format: ethereumRecoveryFormat,
      withdrawalId: `recovery:${safe}:${nonce.toString()}`,
      walletId: options.walletId,
      digests: [safeTxHash(envelope).slice(2)],
      unsignedTx: encodeSafeTxEnvelope(envelope),
      summary: `move ${awaited.toString()} ${token === null ? `wei (${etherAsset})` : `of token ${token}`} from Safe ${safe} to ${getAddress(options.destination)} on chain ${chainId}, Safe nonce ${nonce.toString()}`,
    };
  } finally {
    provider.destroy();
  }
}

/**
 * Checks the signatures against the request and the Safe's owners and threshold, then sends
 * execTransaction from `relayerKey` (any funded account) and waits for it. The transaction's
 * hash; a refusal names what is missing before anything is sent.
 */
export async function executeEthereumRecovery(options: {
  readonly rpcUrl: string;
  readonly relayerKey: string;
  readonly request: EthereumRecoveryRequest;
  readonly signatures: readonly RecoverySignature[];
}): Promise<string> {
  const envelope = decodeSafeTxEnvelope(options.request.unsignedTx);
  const digest = safeTxHash(envelope);
  const [requested] = options.request.digests;
  if (digest.slice(2) !== requested)
    throw cofferError('APP_E_INVALID_ARGS', 'the request digest is not the hash of its SafeTx');
  const provider = ethereumProvider(options.rpcUrl);
  try {
    const safe = new Contract(envelope.safe, safeArtifact('Safe').abi as never, provider);
    const owners = new Set(
      ((await safe.getFunction('getOwners')()) as string[]).map((owner) => getAddress(owner)),
    );
    const threshold = Number((await safe.getFunction('getThreshold')()) as bigint);
    const signed = options.signatures.map((item) => {
      const [signature] = item.signatures;
      if (item.digests.length !== 1 || item.digests[0] !== requested || signature === undefined)
        throw cofferError(
          'APP_E_INVALID_ARGS',
          `a signature file signs digests [${item.digests.join(', ')}], not the request's [${requested}]`,
        );
      const owner = ownerAddressOf(item.publicKey);
      if (!owners.has(owner))
        throw cofferError(
          'CUSTODY_E_SIGNATURE_INVALID',
          `key ${item.publicKey.slice(0, 18)}… (${owner}) is not an owner of Safe ${envelope.safe}`,
        );
      return { owner, signature: safeSignatureOf(digest, signature, item.publicKey) };
    });
    if (new Set(signed.map((item) => item.owner)).size < threshold)
      throw cofferError(
        'APP_E_INVALID_ARGS',
        `Safe ${envelope.safe} needs signatures of ${threshold} distinct owners, got ${signed.length}`,
      );
    const relayer = new Wallet(options.relayerKey, provider);
    const sent = await new Contract(envelope.safe, safeArtifact('Safe').abi as never, relayer)
      .getFunction('execTransaction')
      .send(...execTransactionArgs(envelope.tx, packSafeSignatures(signed)));
    const receipt = await receiptOf(provider, sent.hash, recoveryWaitMsMax);
    if (receipt.status !== 1)
      throw new Error(
        `execTransaction ${sent.hash} did not succeed (status ${String(receipt.status)})`,
      );
    return sent.hash;
  } finally {
    provider.destroy();
  }
}
