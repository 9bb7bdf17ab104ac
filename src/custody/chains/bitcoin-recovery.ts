// Recovery of a Bitcoin wallet without the ledger and without the HSM (issue 8): the offline key
// and the service key, 2 of the wallet's 3 P2WSH keys, move its coins from files. A recovery
// request file carries the unsigned PSBT and its BIP 143 digests (one per input) in the shape the
// offline signing tool reads (`coffer custody offline sign`: withdrawalId, walletId, digests; the
// other fields are ignored by it); each key holder returns a signature file (publicKey, one
// signature per digest); anyone who can reach a node finalises and broadcasts. The Ethereum
// counterpart is ethereum-recovery.ts; runbook: docs/runbooks/custody-recovery.md.
import { address as bitcoinAddress, type Network, type Psbt } from 'bitcoinjs-lib';
import { offlineDigestsMax } from '../../crypto/offline-key.js';
import { cofferError, isCofferError } from '../../errors/index.js';
import type { RecoverySignature } from './ethereum-recovery.js';
import {
  buildPsbt,
  changeDustSat,
  decodePsbt,
  estimateVsize,
  checkFeeRate,
  finaliseTransaction,
  inputDigests,
  outpointOf,
  p2wshInputWeight,
  planWithdrawal,
  psbtOutpoints,
  signedCopy,
  spendableCoins,
  type Utxo,
  type WithdrawalPlan,
} from './bitcoin-psbt.js';
import {
  bcoinUtxoSource,
  createBitcoinRpc,
  type BitcoinRpc,
  type BitcoinRpcOptions,
  type UtxoSource,
} from './bitcoin-rpc.js';
import {
  bitcoinNetworks,
  compressPublicKey,
  outputScriptOf,
  walletP2wsh,
  type BitcoinNetworkName,
  type P2wshMultisig,
  type WalletKeysHex,
} from './bitcoin-script.js';

export type { RecoverySignature } from './ethereum-recovery.js';

export const bitcoinRecoveryFormat = 'coffer-bitcoin-recovery/1';
/** Signatures a recovery needs: the wallet is 2-of-3 (offline, service, platform). */
export const recoveryThreshold = 2;
/**
 * Coins one recovery transaction spends, at most: one digest each, and the offline tool signs
 * at most offlineDigestsMax digests per request. A sweep of a wallet with more coins moves the
 * largest ones and says how many stay (`coinsLeft`); run it again once it confirmed.
 */
export const recoveryInputsMax = offlineDigestsMax;
/** How long executeBitcoinRecovery waits for the node's mempool to take the transaction, ms. */
export const recoveryMempoolWaitMsDefault = 5000;
const recoveryPollMs = 100;

/** The recovery request file (JSON). */
export type BitcoinRecoveryRequest = {
  readonly format: typeof bitcoinRecoveryFormat;
  /** `recovery:<wallet address>:<first input's txid:vout>`: what the offline tool records. */
  readonly withdrawalId: string;
  readonly walletId: string;
  readonly network: BitcoinNetworkName;
  /** Lower-case hex of each input's BIP 143 SIGHASH_ALL digest, in input order. */
  readonly digests: readonly string[];
  /** The unsigned PSBT (BIP 174), hex. */
  readonly unsignedTx: string;
  /** For the people who check and sign: what moves where, and the fee (describeRecovery). */
  readonly summary: string;
  /** The wallet's confirmed coins this transaction does not spend (besides its change). */
  readonly coinsLeft: { readonly count: number; readonly sat: string };
};

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const sum = (values: readonly bigint[]): bigint => values.reduce((a, b) => a + b, 0n);

function networkOf(name: BitcoinNetworkName) {
  const network = (bitcoinNetworks as Partial<Record<string, Network>>)[name];
  if (network === undefined)
    throw cofferError(
      'APP_E_INVALID_ARGS',
      `network ${JSON.stringify(name)}: give one of ${Object.keys(bitcoinNetworks).join(', ')}`,
    );
  return network;
}

/**
 * What a recovery PSBT does, in one line, computed from the PSBT alone: prepare writes it into
 * the request and execute checks the request still says it (a summary edited after the check
 * would show the people something the keys do not sign).
 */
export function describeRecovery(
  psbt: Psbt,
  wallet: P2wshMultisig,
  networkName: BitcoinNetworkName,
): string {
  const network = networkOf(networkName);
  const spent = sum(psbt.data.inputs.map((input) => input.witnessUtxo?.value ?? 0n));
  const [pay, change] = psbt.txOutputs;
  if (pay === undefined) throw new Error('bitcoin recovery invariant: the PSBT pays nothing');
  const fee = spent - sum(psbt.txOutputs.map((out) => out.value));
  const vsize = estimateVsize(
    wallet,
    psbt.inputCount,
    psbt.txOutputs.map((out) => out.script),
  );
  const destination = bitcoinAddress.fromOutputScript(pay.script, network);
  const rest =
    change === undefined
      ? 'no change (the whole of the coins, less the fee)'
      : `change ${change.value.toString()} sat back to ${wallet.address}`;
  return `move ${pay.value.toString()} sat from ${wallet.address} to ${destination} on ${networkName}, fee ${fee.toString()} sat (about ${Math.ceil(Number(fee) / vsize).toString()} sat/vB over ${vsize.toString()} vB), spending ${psbt.inputCount.toString()} coins worth ${spent.toString()} sat, ${rest}`;
}

/** The coins a wallet may spend now: confirmed, coinbases mature. */
async function walletCoins(
  rpc: BitcoinRpc,
  utxos: UtxoSource,
  address: string,
): Promise<readonly Utxo[]> {
  const tip = await rpc.blocks.getBlockCount();
  return spendableCoins(await utxos.coinsOf(address), tip, new Set());
}

/** Largest first, ties by txid then vout (planWithdrawal's order). */
function largestFirst(coins: readonly Utxo[]): Utxo[] {
  return [...coins].sort(
    (a, b) =>
      (a.value === b.value ? 0 : a.value > b.value ? -1 : 1) ||
      a.txid.localeCompare(b.txid) ||
      a.vout - b.vout,
  );
}

/**
 * A sweep, explicitly: the chosen coins in, one output to the destination, no change;
 * amount = total - fee, fee = ceil(vsize × rate). Coins worth no more than what their own input
 * costs at the rate are left out (they would only lower the amount). Throws
 * CUSTODY_E_INSUFFICIENT_FUNDS when what is left after the fee is dust.
 */
function sweepPlan(
  wallet: P2wshMultisig,
  coins: readonly Utxo[],
  destination: string,
  feeRateSatPerVb: number,
  network: Network,
): WithdrawalPlan {
  const inputFee = BigInt(Math.ceil((p2wshInputWeight(wallet) / 4) * feeRateSatPerVb));
  const inputs = coins.filter((coin) => coin.value > inputFee).slice(0, recoveryInputsMax);
  const vsize = estimateVsize(wallet, inputs.length, [outputScriptOf(destination, network)]);
  const fee = BigInt(Math.ceil(vsize * feeRateSatPerVb));
  const total = sum(inputs.map((coin) => coin.value));
  if (inputs.length === 0 || total - fee < changeDustSat)
    throw cofferError(
      'CUSTODY_E_INSUFFICIENT_FUNDS',
      `the wallet's coins (${sum(coins.map((coin) => coin.value)).toString()} sat) do not pay the fee at ${String(feeRateSatPerVb)} sat/vB and leave ${changeDustSat.toString()} sat to move; lower the fee rate`,
      { total: total.toString(), fee: fee.toString() },
    );
  return {
    inputs,
    amount: total - fee,
    destination,
    change: null,
    fee,
    vsize,
    feeRateSatPerVb,
  };
}

/**
 * A recovery request that moves `amount` sat (default: everything the wallet can spend, in one
 * output, no change) from the wallet's 2-of-3 P2WSH to `destination` at `feeRateSatPerVb`.
 * Reads the tip and the wallet's coins from the node; throws CUSTODY_E_INSUFFICIENT_FUNDS,
 * CUSTODY_E_ADDRESS_INVALID, CUSTODY_E_KEY_INVALID, CUSTODY_E_PARAMS_INVALID, CUSTODY_E_CHAIN_NODE.
 */
export async function prepareBitcoinRecovery(options: {
  readonly rpc: BitcoinRpcOptions;
  /** Where the wallet's coins come from (default: bcoin's address index on the same node). */
  readonly utxos?: UtxoSource;
  readonly network: BitcoinNetworkName;
  readonly walletId: string;
  /** The wallet's three public keys (SEC1 hex), as the custody app stores them. */
  readonly keys: WalletKeysHex;
  readonly destination: string;
  readonly feeRateSatPerVb: number;
  /** Sat to move; the rest comes back to the wallet as change. Absent: everything. */
  readonly amount?: bigint;
}): Promise<BitcoinRecoveryRequest> {
  const network = networkOf(options.network);
  const wallet = walletP2wsh(recoveryThreshold, options.keys, network);
  const { destination, feeRateSatPerVb } = options;
  checkFeeRate(feeRateSatPerVb);
  if (Buffer.from(outputScriptOf(destination, network)).equals(Buffer.from(wallet.outputScript)))
    throw cofferError(
      'CUSTODY_E_ADDRESS_INVALID',
      `the destination ${destination} is the wallet's own address; give the address the coins must go to`,
      { destination },
    );
  const rpc = createBitcoinRpc(options.rpc);
  try {
    const coins = largestFirst(
      await walletCoins(rpc, options.utxos ?? bcoinUtxoSource(rpc), wallet.address),
    );
    if (coins.length === 0)
      throw cofferError(
        'CUSTODY_E_INSUFFICIENT_FUNDS',
        `the wallet address ${wallet.address} has no confirmed coin (coinbases: 100 blocks old) on ${options.network}; check the keys file and the network`,
        { address: wallet.address },
      );
    const plan =
      options.amount === undefined
        ? sweepPlan(wallet, coins, destination, feeRateSatPerVb, network)
        : planWithdrawal({
            wallet,
            utxos: coins,
            destination,
            amount: options.amount,
            feeRateSatPerVb,
            network,
            inputsMax: recoveryInputsMax,
          });
    const psbt = buildPsbt(plan, wallet, network);
    const spent = new Set(psbtOutpoints(psbt));
    const left = coins.filter((coin) => !spent.has(outpointOf(coin.txid, coin.vout)));
    const [first = ''] = psbtOutpoints(psbt);
    return {
      format: bitcoinRecoveryFormat,
      withdrawalId: `recovery:${wallet.address}:${first}`,
      walletId: options.walletId,
      network: options.network,
      digests: inputDigests(psbt).map(hex),
      unsignedTx: psbt.toHex(),
      summary: describeRecovery(psbt, wallet, options.network),
      coinsLeft: { count: left.length, sat: sum(left.map((coin) => coin.value)).toString() },
    };
  } finally {
    rpc.close();
  }
}

function requestInvalid(field: string, what: string) {
  return cofferError('KEYSTORE_E_REQUEST_INVALID', `bitcoin recovery request: ${field} ${what}`, {
    field,
  });
}

/** A recovery request file's JSON, its shape checked (checkRecoveryRequest checks the rest). */
export function parseBitcoinRecoveryRequest(json: unknown): BitcoinRecoveryRequest {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    throw requestInvalid('(file)', 'must be a JSON object');
  const file = json as Readonly<Record<string, unknown>>;
  if (file['format'] !== bitcoinRecoveryFormat)
    throw requestInvalid('format', `must be "${bitcoinRecoveryFormat}"`);
  const text = (field: string, pattern: RegExp, what: string): string => {
    const value = file[field];
    if (typeof value !== 'string' || !pattern.test(value)) throw requestInvalid(field, what);
    return value;
  };
  const network = text('network', /^[a-z-]+$/, 'must name a network');
  if (!Object.hasOwn(bitcoinNetworks, network))
    throw requestInvalid('network', `must be one of ${Object.keys(bitcoinNetworks).join(', ')}`);
  const digests = file['digests'];
  if (
    !Array.isArray(digests) ||
    digests.length === 0 ||
    digests.length > recoveryInputsMax ||
    !digests.every((digest) => typeof digest === 'string' && /^[0-9a-f]{64}$/.test(digest))
  )
    throw requestInvalid(
      'digests',
      `must be 1 to ${recoveryInputsMax.toString()} digests of 64 lower-case hex characters`,
    );
  const left = file['coinsLeft'] as { count?: unknown; sat?: unknown } | undefined;
  if (
    typeof left !== 'object' ||
    !Number.isSafeInteger(left.count) ||
    typeof left.sat !== 'string' ||
    !/^[0-9]{1,20}$/.test(left.sat)
  )
    throw requestInvalid('coinsLeft', 'must be {count, sat}');
  return {
    format: bitcoinRecoveryFormat,
    withdrawalId: text('withdrawalId', /^recovery:.{1,246}$/, 'must be recovery:<address>:<coin>'),
    walletId: text('walletId', /^.{1,256}$/, 'must be 1 to 256 characters'),
    network: network as BitcoinNetworkName,
    digests: digests as string[],
    unsignedTx: text('unsignedTx', /^(?:[0-9a-f]{2})+$/, 'must be the PSBT in lower-case hex'),
    summary: text('summary', /^.{1,2000}$/, 'must be one line'),
    coinsLeft: { count: left.count as number, sat: left.sat },
  };
}

/**
 * The request's PSBT, checked against the wallet and itself: the network is `network`, every
 * input is a coin of the wallet's P2WSH, a second output (if any) is change to the wallet, the
 * digests are the PSBT's BIP 143 digests and the summary is the PSBT's.
 */
export function checkRecoveryRequest(
  request: BitcoinRecoveryRequest,
  keys: WalletKeysHex,
  networkName: BitcoinNetworkName,
): { readonly psbt: Psbt; readonly wallet: P2wshMultisig } {
  if (request.network !== networkName)
    throw cofferError(
      'APP_E_INVALID_ARGS',
      `the request is for ${request.network}, the node for ${networkName}; use a node of the request's network`,
    );
  const network = networkOf(networkName);
  const wallet = walletP2wsh(recoveryThreshold, keys, network);
  const psbt = decodePsbt(request.unsignedTx, request.withdrawalId, network);
  const same = (a: Uint8Array | undefined, b: Uint8Array) =>
    a !== undefined && Buffer.from(a).equals(Buffer.from(b));
  psbt.data.inputs.forEach((input, i) => {
    if (
      !same(input.witnessUtxo?.script, wallet.outputScript) ||
      !same(input.witnessScript, wallet.witnessScript)
    )
      throw cofferError(
        'CUSTODY_E_TX_MISMATCH',
        `input ${i.toString()} of the request's PSBT is not a coin of wallet ${wallet.address} (these keys); check the keys file`,
        { input: i },
      );
  });
  const [pay, change, ...more] = psbt.txOutputs;
  if (
    pay === undefined ||
    more.length > 0 ||
    (change !== undefined && !same(change.script, wallet.outputScript))
  )
    throw cofferError(
      'CUSTODY_E_TX_MISMATCH',
      `the request's PSBT must pay one destination and at most change to ${wallet.address}; it has ${psbt.txOutputs.length.toString()} outputs`,
    );
  const digests = inputDigests(psbt).map(hex);
  if (
    digests.length !== request.digests.length ||
    digests.some((digest, i) => digest !== request.digests[i])
  )
    throw cofferError(
      'CUSTODY_E_DIGEST_MISMATCH',
      "the request's digests are not the BIP 143 digests of its PSBT; prepare the request again",
    );
  if (describeRecovery(psbt, wallet, networkName) !== request.summary)
    throw cofferError(
      'CUSTODY_E_TX_MISMATCH',
      `the request's summary is not what its PSBT does (${describeRecovery(psbt, wallet, networkName)}); the file was edited: prepare it again`,
    );
  return { psbt, wallet };
}

/**
 * The signed transaction of a request: every signature file signs exactly the request's digests,
 * with a key of the wallet (its public key says which), every signature verifies (r‖s or DER
 * hex, high S normalised), each key once, at least 2 keys. Pure; throws CUSTODY_E_DIGEST_MISMATCH,
 * CUSTODY_E_SIGNATURE_INVALID, CUSTODY_E_KEY_INVALID.
 */
export function signedRecoveryTransaction(
  request: BitcoinRecoveryRequest,
  keys: WalletKeysHex,
  networkName: BitcoinNetworkName,
  signatures: readonly RecoverySignature[],
): {
  readonly txHex: string;
  readonly txid: string;
  readonly signers: readonly string[];
  /** The coins it spends, `txid:vout`. */
  readonly coins: readonly string[];
} {
  const { psbt } = checkRecoveryRequest(request, keys, networkName);
  const walletKeys = [
    { name: 'offline', key: compressPublicKey(keys.offline, 'keys.offline') },
    { name: 'service', key: compressPublicKey(keys.service, 'keys.service') },
    { name: 'platform', key: compressPublicKey(keys.platform.publicKey, 'keys.platform') },
  ];
  const signed = signatures.map((file, i) => {
    const which = `signature file ${(i + 1).toString()}`;
    if (
      file.digests.length !== request.digests.length ||
      file.digests.some((digest, j) => digest !== request.digests[j])
    )
      throw cofferError(
        'CUSTODY_E_DIGEST_MISMATCH',
        `${which} signs other digests (${file.digests.length.toString()}, from ${String(file.digests[0])}) than the request's (${request.digests.length.toString()}, from ${String(request.digests[0])}); sign this request's file`,
        { file: i + 1 },
      );
    const key = compressPublicKey(file.publicKey, `${which}: publicKey`);
    const known = walletKeys.find((candidate) => Buffer.from(candidate.key).equals(key));
    if (known === undefined)
      throw cofferError(
        'CUSTODY_E_SIGNATURE_INVALID',
        `${which} is signed by ${file.publicKey.slice(0, 18)}…, which is none of the wallet's three keys (offline, service, platform)`,
        { file: i + 1 },
      );
    try {
      return signedCopy(psbt, [known], file.signatures, which);
    } catch (error) {
      const input = (error as { details?: { input?: unknown } }).details?.input;
      if (!isCofferError(error, 'CUSTODY_E_SIGNATURE_INVALID') || typeof input !== 'number')
        throw error;
      throw cofferError(
        'CUSTODY_E_SIGNATURE_INVALID',
        `${which}: the signature of input ${input.toString()} does not verify over that input's BIP 143 digest with the ${known.name} key the file names; it must hold one signature per digest, in the request's order (r‖s or DER hex)`,
        { file: i + 1, input },
        error,
      );
    }
  });
  const names = signed.map((item) => item.signer);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice !== undefined)
    throw cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `the ${twice} key signed two of the files; give one file per key, from ${recoveryThreshold.toString()} different keys`,
    );
  if (names.length < recoveryThreshold)
    throw cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `the recovery is signed by ${names.join(', ') || 'no key'}; it needs ${recoveryThreshold.toString()} different keys of the wallet (offline and service)`,
    );
  const tx = finaliseTransaction(
    signed.map((item) => item.copy),
    recoveryThreshold,
  );
  return { txHex: tx.toHex(), txid: tx.getId(), signers: names, coins: psbtOutpoints(psbt) };
}

/**
 * Checks the request and the signatures (signedRecoveryTransaction) before anything reaches the
 * node, checks the coins are still unspent, then sends the transaction and waits until the node
 * has it (bcoin answers sendrawtransaction before its mempool decided, and never reports a
 * refusal). The txid; a transaction the node already knows (a second run) is not sent again.
 */
export async function executeBitcoinRecovery(options: {
  readonly rpc: BitcoinRpcOptions;
  readonly network: BitcoinNetworkName;
  readonly request: BitcoinRecoveryRequest;
  readonly keys: WalletKeysHex;
  readonly signatures: readonly RecoverySignature[];
  readonly mempoolWaitMs?: number;
}): Promise<string> {
  const { txHex, txid, coins } = signedRecoveryTransaction(
    options.request,
    options.keys,
    options.network,
    options.signatures,
  );
  const rpc = createBitcoinRpc(options.rpc);
  try {
    if ((await rpc.transaction(txid)) !== null) return txid;
    for (const coin of coins) {
      const [hash = '', vout = ''] = coin.split(':');
      if (!(await rpc.unspentInChain(hash, Number(vout))))
        throw cofferError(
          'CUSTODY_E_INSUFFICIENT_FUNDS',
          `coin ${coin} of the request is spent already (or unknown to the node); the wallet's coins changed since the request was prepared: prepare a new one`,
          { coin },
        );
    }
    await rpc.sendRawTransaction(txHex, txid);
    const deadline = Date.now() + (options.mempoolWaitMs ?? recoveryMempoolWaitMsDefault);
    for (;;) {
      if ((await rpc.transaction(txid)) !== null) return txid;
      if (Date.now() > deadline)
        throw cofferError(
          'CUSTODY_E_CHAIN_NODE',
          `the Bitcoin node did not take ${txid} into its mempool (a spend of the same coins in its mempool, or a fee under its minimum: bcoin says why in its log only); check the node and run execute again`,
          { method: 'sendrawtransaction', kind: 'not_taken', txid },
        );
      await new Promise((resolve) => setTimeout(resolve, recoveryPollMs));
    }
  } finally {
    rpc.close();
  }
}
