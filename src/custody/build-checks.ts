// What the custody app checks when a chain worker records a built withdrawal (`build`): the
// digests are the chain's digests of the unsigned transaction, and that transaction pays
// exactly the approved withdrawal and nothing else, so the service key and the HSM only ever
// sign what the policy and the admins approved. A worker is trusted to talk to its chain, not
// to decide what is paid. Pure: the chain maths is in chains/ (coffer: SHA-256 of the bytes;
// ethereum: the SafeTx's EIP-712 hash; bitcoin: the BIP 143 digest of each PSBT input).
import { createHash } from 'node:crypto';
import { Psbt } from 'bitcoinjs-lib';
import { cofferError } from '../errors/index.js';
import { bitcoinAsset } from './chains/bitcoin-deposits.js';
import { inputDigests } from './chains/bitcoin-psbt.js';
import { bitcoinNetworks, outputScriptOf, walletP2wsh } from './chains/bitcoin-script.js';
import { decodeSafeTxEnvelope, safeTxHash, safeWithdrawalMismatch } from './chains/safe.js';
import { digestsPerWithdrawalMax } from './limits.js';
import type { ChainParams } from './params.js';
import type { WalletRecord, WithdrawalRecord } from './types.js';

/** The ether asset of ethereum wallets (ERC-20 assets are named in the chain's `tokens`). */
export const etherAssetSymbol = 'ETH';

export type BuiltFacts = {
  /** What the chain takes from the wallet beside the amount (bitcoin's miner fee), base units. */
  readonly fee: bigint;
};

export type BuildToCheck = {
  readonly record: WithdrawalRecord;
  readonly wallet: WalletRecord;
  readonly params: ChainParams;
  readonly unsignedTx: string;
  readonly digests: readonly string[];
  /** The wallet an address of the withdrawal's chain is registered to (add_address), if any. */
  readonly addressWallet: (address: string) => string | undefined;
};

function mismatch(record: WithdrawalRecord, why: string): never {
  throw cofferError(
    'CUSTODY_E_TX_MISMATCH',
    `withdrawal ${record.id} (${record.amount} ${record.asset} to ${record.destination}): the built ${record.chain} transaction ${why}`,
    { id: record.id, chain: record.chain },
  );
}

function digestMismatch(expected: readonly string[], got: readonly string[], what: string): never {
  throw cofferError(
    'CUSTODY_E_DIGEST_MISMATCH',
    `${what}: expected [${expected.join(', ')}], args.digests is [${got.join(', ')}]`,
    { expected: [...expected] },
  );
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

function checkCoffer(input: BuildToCheck): BuiltFacts {
  const expected = [
    createHash('sha256').update(Buffer.from(input.unsignedTx, 'hex')).digest('hex'),
  ];
  if (!sameList(expected, input.digests))
    digestMismatch(
      expected,
      input.digests,
      "a coffer transaction's digest is the SHA-256 of its bytes",
    );
  return { fee: 0n };
}

function checkEthereum(input: BuildToCheck): BuiltFacts {
  const { record, params } = input;
  if (params.chainId === null) {
    throw cofferError(
      'CUSTODY_E_PARAMS_INVALID',
      'custody parameters: custody.chains.ethereum.chainId is not set, so no ethereum withdrawal can be built (signatures would not be bound to a chain); set it with a set_custody proposal',
      { field: 'custody.chains.ethereum.chainId' },
    );
  }
  let token: string | null = null;
  if (record.asset !== etherAssetSymbol) {
    token = params.tokens[record.asset] ?? null;
    if (token === null) {
      throw cofferError(
        'CUSTODY_E_PARAMS_INVALID',
        `custody parameters: custody.chains.ethereum.tokens names no contract for ${record.asset}; add it with a set_custody proposal`,
        { field: `custody.chains.ethereum.tokens.${record.asset}` },
      );
    }
  }
  let envelope;
  try {
    envelope = decodeSafeTxEnvelope(input.unsignedTx);
  } catch (error) {
    return mismatch(record, `is not a SafeTx envelope: ${(error as Error).message}`);
  }
  const expected = [safeTxHash(envelope).slice(2)];
  if (!sameList(expected, input.digests))
    digestMismatch(
      expected,
      input.digests,
      "an ethereum withdrawal's digest is its SafeTx's EIP-712 hash",
    );
  const safe = envelope.safe.toLowerCase();
  if (input.addressWallet(safe) !== record.walletId)
    mismatch(
      record,
      `spends from ${safe}, which is not an address registered to wallet ${record.walletId}`,
    );
  const why = safeWithdrawalMismatch(input.unsignedTx, expected[0] ?? '', {
    chainId: params.chainId,
    safe,
    token,
    destination: record.destination,
    amount: record.amount,
  });
  if (why !== null) mismatch(record, `is ${why}`);
  return { fee: 0n };
}

function destinationScript(record: WithdrawalRecord): Uint8Array {
  for (const network of Object.values(bitcoinNetworks)) {
    try {
      return outputScriptOf(record.destination, network);
    } catch {
      // another network's prefix
    }
  }
  return mismatch(record, `cannot pay ${record.destination}: no Bitcoin network decodes it`);
}

const equalBytes = (a: Uint8Array | undefined, b: Uint8Array): boolean =>
  a !== undefined && Buffer.from(a).equals(Buffer.from(b));

function checkBitcoin(input: BuildToCheck): BuiltFacts {
  const { record, wallet, params } = input;
  if (record.asset !== bitcoinAsset)
    mismatch(record, `cannot pay ${record.asset}, only ${bitcoinAsset}`);
  let psbt: Psbt;
  try {
    psbt = Psbt.fromHex(input.unsignedTx);
  } catch (error) {
    return mismatch(record, `is not a PSBT in hex: ${(error as Error).message}`);
  }
  const ins = psbt.data.inputs;
  if (ins.length === 0 || ins.length > digestsPerWithdrawalMax)
    mismatch(record, `has ${ins.length} inputs; 1 to ${digestsPerWithdrawalMax}`);
  if (psbt.locktime !== 0) mismatch(record, `has lock time ${psbt.locktime}; custody builds 0`);
  // The script does not depend on the network: only addresses carry a prefix.
  const own = walletP2wsh(wallet.threshold.m, wallet.keys, bitcoinNetworks.mainnet);
  const outpoints = new Set<string>();
  let spent = 0n;
  ins.forEach((item, i) => {
    const outpoint = psbt.txInputs[i];
    const key = `${Buffer.from(outpoint?.hash ?? []).toString('hex')}:${outpoint?.index}`;
    if (outpoints.has(key)) mismatch(record, `spends ${key} twice`);
    outpoints.add(key);
    if (!equalBytes(item.witnessUtxo?.script, own.outputScript) || item.witnessUtxo === undefined)
      mismatch(record, `input ${i} does not spend the wallet's own P2WSH output`);
    if (!equalBytes(item.witnessScript, own.witnessScript))
      mismatch(record, `input ${i} does not carry the wallet's witness script`);
    if (item.sighashType !== undefined && item.sighashType !== 1)
      mismatch(
        record,
        `input ${i} asks for sighash type ${item.sighashType}; custody signs SIGHASH_ALL`,
      );
    spent += item.witnessUtxo.value;
  });
  const outs = psbt.txOutputs;
  const [pay, change, ...more] = outs;
  if (pay === undefined || more.length > 0)
    mismatch(
      record,
      `has ${outs.length} outputs; custody pays the destination, then at most change`,
    );
  if (!equalBytes(pay.script, destinationScript(record)) || pay.value !== BigInt(record.amount))
    mismatch(record, `does not pay exactly ${record.amount} sat to ${record.destination} first`);
  if (change !== undefined && !equalBytes(change.script, own.outputScript))
    mismatch(
      record,
      `sends its second output elsewhere than back to the wallet (${own.address} on mainnet)`,
    );
  const paid = outs.reduce((sum, out) => sum + out.value, 0n);
  const fee = spent - paid;
  if (fee < 0n) mismatch(record, `pays out ${paid} sat from ${spent} sat of inputs`);
  if (fee > BigInt(params.feeMax)) {
    throw cofferError(
      'CUSTODY_E_FEE_TOO_HIGH',
      `withdrawal ${record.id}: the built transaction pays a ${fee} sat fee; custody.chains.bitcoin.feeMax is ${params.feeMax}`,
      { id: record.id, fee: fee.toString(), feeMax: params.feeMax },
    );
  }
  const expected = inputDigests(psbt).map((digest) => Buffer.from(digest).toString('hex'));
  if (!sameList(expected, input.digests))
    digestMismatch(
      expected,
      input.digests,
      "a bitcoin withdrawal's digests are its inputs' BIP 143 SIGHASH_ALL digests",
    );
  return { fee };
}

/**
 * Why a bitcoin fee bump does not replace the broadcast transaction, or null: the replacement
 * must spend every coin the broadcast one spends (so at most one of them can ever confirm).
 */
export function replacementMismatch(previousTx: string, nextTx: string): string | null {
  const outpoints = (hex: string): Set<string> => {
    const psbt = Psbt.fromHex(hex);
    return new Set(
      psbt.txInputs.map((input) => `${Buffer.from(input.hash).toString('hex')}:${input.index}`),
    );
  };
  let next: Set<string>;
  try {
    next = outpoints(nextTx);
  } catch (error) {
    return `is not a PSBT in hex: ${(error as Error).message}`;
  }
  for (const outpoint of outpoints(previousTx))
    if (!next.has(outpoint)) return `does not spend ${outpoint}, which the broadcast one spends`;
  return null;
}

/**
 * Checks a built withdrawal against its approved record and the chain's parameters; returns the
 * fee the wallet pays. Throws CUSTODY_E_DIGEST_MISMATCH, CUSTODY_E_TX_MISMATCH,
 * CUSTODY_E_FEE_TOO_HIGH or CUSTODY_E_PARAMS_INVALID.
 */
export function checkBuilt(input: BuildToCheck): BuiltFacts {
  switch (input.record.chain) {
    case 'coffer':
      return checkCoffer(input);
    case 'ethereum':
      return checkEthereum(input);
    case 'bitcoin':
      return checkBitcoin(input);
  }
}
