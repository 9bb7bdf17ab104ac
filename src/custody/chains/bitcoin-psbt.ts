// Bitcoin withdrawals as PSBTs (BIP 174), pure: coin selection over the wallet's P2WSH coins,
// fees from a vsize estimate, change back to the wallet's own address, one BIP 143 digest per
// input, raw r‖s signatures (what an HSM or Coffer's signer returns) turned into DER low-S with
// SIGHASH_ALL as partial signatures, combine, finalise, extract, and replace-by-fee (BIP 125).
// No IO: the worker fetches coins and fee rates and broadcasts; this module only decides.
import * as ecc from '@bitcoinerlab/secp256k1';
import { Psbt, Transaction, script as bitcoinScript, type Network } from 'bitcoinjs-lib';
import { derSignatureToRaw, normaliseSignature } from '../../crypto/keys.js';
import { cofferError, isCofferError } from '../../errors/index.js';
import {
  compressPublicKey,
  outputScriptOf,
  type P2wshMultisig,
  type WalletKeysHex,
} from './bitcoin-script.js';

/** BIP 125: any nSequence below 0xfffffffe signals that the spend may be replaced. */
export const rbfSequence = 0xfffffffd;
/** Change below this is not worth an output: P2WSH dust at Core's 3 sat/vB dust relay fee. */
export const changeDustSat = 330n;
/** Upper bound of the fee rate a withdrawal may pay, sat/vB (a typo guard, not a market view). */
export const feeRateSatPerVbMax = 10_000;
/** BIP 125 rule 4: a replacement pays for its own relay at this rate on top of the old fee. */
export const incrementalRelayFeeSatPerVb = 1;
/** Inputs one withdrawal may spend (keeps the transaction standard: < 100 kvB for 2-of-3). */
export const inputsPerTxMax = 500;

const sigHashAll = Transaction.SIGHASH_ALL;
const rawSignatureBytes = 64;
// Weights (BIP 141: weight = 4 × non-witness bytes + witness bytes).
const txOverheadWeight = 4 * (4 + 1 + 1 + 4) + 2; // version, input and output counts, locktime; marker+flag
const inputNonWitnessBytes = 32 + 4 + 1 + 4; // outpoint, empty scriptSig, sequence
const derSignatureWithHashTypeBytesMax = 72; // low-S DER is at most 71 bytes, + 1 sighash byte

/** A coin of the wallet's P2WSH output script. */
export type Utxo = { readonly txid: string; readonly vout: number; readonly value: bigint };

/** Blocks before a coinbase output may be spent (consensus). */
export const coinbaseMaturityBlocks = 100;

/** A coin paying the wallet as a node lists it (bitcoin-rpc.ts's UtxoSource). */
export type ListedCoin = Utxo & {
  /** Height of its block; null while it is in the mempool only. */
  readonly height: number | null;
  readonly coinbase: boolean;
};

/**
 * Coins a build may spend: confirmed (a mempool coin's parent may still be replaced), coinbases
 * mature, none held by another withdrawal.
 */
export function spendableCoins(
  coins: readonly ListedCoin[],
  tip: number,
  held: ReadonlySet<string>,
): Utxo[] {
  return coins
    .filter(
      (coin) =>
        coin.height !== null &&
        coin.height <= tip &&
        (!coin.coinbase || tip - coin.height + 1 >= coinbaseMaturityBlocks) &&
        !held.has(outpointOf(coin.txid, coin.vout)),
    )
    .map(({ txid, vout, value }) => ({ txid, vout, value }));
}

/** Weight units of one P2WSH m-of-n input with its witness, the signatures at their longest. */
export function p2wshInputWeight(wallet: Pick<P2wshMultisig, 'm' | 'witnessScript'>): number {
  const scriptLength = wallet.witnessScript.length;
  const witnessBytes =
    1 + // item count
    1 + // the empty item CHECKMULTISIG's off-by-one pops
    wallet.m * (1 + derSignatureWithHashTypeBytesMax) +
    varIntBytes(scriptLength) +
    scriptLength;
  return 4 * inputNonWitnessBytes + witnessBytes;
}

function varIntBytes(n: number): number {
  return n < 0xfd ? 1 : n <= 0xffff ? 3 : 5;
}

function outputWeight(outputScript: Uint8Array): number {
  return 4 * (8 + varIntBytes(outputScript.length) + outputScript.length);
}

/** Virtual size (vB) of a spend of `inputs` wallet coins to the given output scripts. */
export function estimateVsize(
  wallet: Pick<P2wshMultisig, 'm' | 'witnessScript'>,
  inputs: number,
  outputScripts: readonly Uint8Array[],
): number {
  const weight =
    txOverheadWeight +
    inputs * p2wshInputWeight(wallet) +
    outputScripts.reduce((sum, script) => sum + outputWeight(script), 0);
  return Math.ceil(weight / 4);
}

function feeFor(vsize: number, feeRateSatPerVb: number): bigint {
  return BigInt(Math.ceil(vsize * feeRateSatPerVb));
}

export type WithdrawalPlan = {
  readonly inputs: readonly Utxo[];
  readonly amount: bigint;
  readonly destination: string;
  /** Change back to the wallet's address; null when it would have been dust (it goes to fees). */
  readonly change: bigint | null;
  readonly fee: bigint;
  readonly vsize: number;
  readonly feeRateSatPerVb: number;
};

/** Refuses a fee rate outside 1 to feeRateSatPerVbMax sat/vB (CUSTODY_E_PARAMS_INVALID). */
export function checkFeeRate(feeRateSatPerVb: number): void {
  if (
    !Number.isFinite(feeRateSatPerVb) ||
    feeRateSatPerVb < 1 ||
    feeRateSatPerVb > feeRateSatPerVbMax
  ) {
    throw cofferError(
      'CUSTODY_E_PARAMS_INVALID',
      `the fee rate is ${feeRateSatPerVb} sat/vB; give 1 to ${feeRateSatPerVbMax} sat/vB`,
      { feeRateSatPerVb },
    );
  }
}

/** Change and fee for spending `inputs` (null: they do not cover amount and fee). */
function settle(
  wallet: P2wshMultisig,
  inputs: readonly Utxo[],
  amount: bigint,
  destinationScript: Uint8Array,
  feeRateSatPerVb: number,
): { change: bigint | null; fee: bigint; vsize: number } | null {
  const total = inputs.reduce((sum, coin) => sum + coin.value, 0n);
  const withChange = estimateVsize(wallet, inputs.length, [destinationScript, wallet.outputScript]);
  const changeFee = feeFor(withChange, feeRateSatPerVb);
  if (total - amount - changeFee >= changeDustSat) {
    return { change: total - amount - changeFee, fee: changeFee, vsize: withChange };
  }
  const without = estimateVsize(wallet, inputs.length, [destinationScript]);
  const fee = feeFor(without, feeRateSatPerVb);
  // Whatever is above the fee is too small for a change output: the miner takes it.
  return total - amount >= fee ? { change: null, fee: total - amount, vsize: without } : null;
}

/**
 * Picks coins, largest first (ties by txid then vout, so every node picks the same), until they
 * pay `amount` and the fee at `feeRateSatPerVb`. Throws CUSTODY_E_INSUFFICIENT_FUNDS.
 */
export function planWithdrawal(input: {
  readonly wallet: P2wshMultisig;
  readonly utxos: readonly Utxo[];
  readonly destination: string;
  readonly amount: bigint;
  readonly feeRateSatPerVb: number;
  readonly network: Network;
  /** Inputs the plan may spend, at most inputsPerTxMax (the default). */
  readonly inputsMax?: number;
}): WithdrawalPlan {
  const { wallet, destination, amount, feeRateSatPerVb, network } = input;
  const inputsMax = Math.min(input.inputsMax ?? inputsPerTxMax, inputsPerTxMax);
  checkFeeRate(feeRateSatPerVb);
  const destinationScript = outputScriptOf(destination, network);
  if (amount < changeDustSat) {
    throw cofferError(
      'CUSTODY_E_PARAMS_INVALID',
      `the amount is ${amount} sat, below the dust limit; send at least ${changeDustSat} sat`,
      { amount: amount.toString() },
    );
  }
  const coins = [...input.utxos].sort(
    (a, b) =>
      (a.value === b.value ? 0 : a.value > b.value ? -1 : 1) ||
      a.txid.localeCompare(b.txid) ||
      a.vout - b.vout,
  );
  const chosen: Utxo[] = [];
  for (const coin of coins.slice(0, inputsMax)) {
    chosen.push(coin);
    const settled = settle(wallet, chosen, amount, destinationScript, feeRateSatPerVb);
    if (settled !== null) {
      return { inputs: chosen, amount, destination, ...settled, feeRateSatPerVb };
    }
  }
  const total = coins.reduce((sum, coin) => sum + coin.value, 0n);
  throw cofferError(
    'CUSTODY_E_INSUFFICIENT_FUNDS',
    `the wallet's ${coins.length} coins (${total} sat) do not pay ${amount} sat plus the fee at ${feeRateSatPerVb} sat/vB` +
      (coins.length > inputsMax ? ` within ${inputsMax} inputs` : ''),
    { amount: amount.toString(), total: total.toString(), coins: coins.length },
  );
}

/** The unsigned PSBT of a plan: every input signals RBF and carries its witness data. */
export function buildPsbt(plan: WithdrawalPlan, wallet: P2wshMultisig, network: Network): Psbt {
  const psbt = new Psbt({ network });
  for (const coin of plan.inputs) {
    psbt.addInput({
      hash: coin.txid,
      index: coin.vout,
      sequence: rbfSequence,
      witnessUtxo: { script: wallet.outputScript, value: coin.value },
      witnessScript: wallet.witnessScript,
    });
  }
  psbt.addOutput({ script: outputScriptOf(plan.destination, network), value: plan.amount });
  if (plan.change !== null) psbt.addOutput({ script: wallet.outputScript, value: plan.change });
  return psbt;
}

/**
 * BIP 143 digests, one per input, in input order: what each key signs (SIGHASH_ALL). Each
 * commits to the whole transaction and the input's value, so a signer that checks the PSBT
 * against an approved withdrawal knows what it signs.
 */
export function inputDigests(psbt: Psbt): Uint8Array[] {
  const tx = Transaction.fromBuffer(psbt.data.getTransaction());
  return psbt.data.inputs.map((input, i) => {
    const { witnessUtxo, witnessScript } = input;
    if (witnessUtxo === undefined || witnessScript === undefined) {
      throw cofferError(
        'CUSTODY_E_PARAMS_INVALID',
        `PSBT input ${i} has no witnessUtxo or witnessScript; build it with buildPsbt`,
        { input: i },
      );
    }
    return tx.hashForWitnessV0(i, witnessScript, witnessUtxo.value, sigHashAll);
  });
}

/**
 * Puts a raw 64-byte r‖s signature of input `index`'s digest by `publicKey` (compressed) into
 * the PSBT as a DER low-S SIGHASH_ALL partial signature. The signature must verify over the
 * digest with a key of the wallet's script: CUSTODY_E_SIGNATURE_INVALID / CUSTODY_E_KEY_INVALID.
 */
export function addRawSignature(
  psbt: Psbt,
  index: number,
  publicKey: Uint8Array,
  rawSignature: Uint8Array,
): void {
  const input = psbt.data.inputs[index];
  const script = input?.witnessScript;
  if (script === undefined) {
    throw cofferError('CUSTODY_E_PARAMS_INVALID', `the PSBT has no P2WSH input ${index}`, {
      input: index,
    });
  }
  const scriptKeys = bitcoinScript.decompile(script) ?? [];
  if (!scriptKeys.some((chunk) => chunk instanceof Uint8Array && equalBytes(chunk, publicKey))) {
    throw cofferError(
      'CUSTODY_E_KEY_INVALID',
      `the key ${Buffer.from(publicKey).toString('hex')} is not in input ${index}'s witness script; sign with a wallet key`,
      { input: index },
    );
  }
  if (rawSignature.length !== rawSignatureBytes) {
    throw cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `input ${index}: a raw signature is 64 bytes (r‖s), got ${rawSignature.length}`,
      { input: index },
    );
  }
  // Low-S (BIP 62, a standardness rule since Core 0.11.1): an HSM's s may be high.
  const low = normaliseSignature('secp256k1', rawSignature);
  const digest = inputDigests(psbt)[index];
  if (digest === undefined || !ecc.verify(digest, publicKey, low, true)) {
    throw cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `input ${index}: the signature does not verify over the input's BIP 143 digest with that key`,
      { input: index },
    );
  }
  psbt.updateInput(index, {
    partialSig: [{ pubkey: publicKey, signature: bitcoinScript.signature.encode(low, sigHashAll) }],
  });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/** A key that signs 32-byte digests and returns raw r‖s (Coffer's `Signer` seam). */
export type RawSigner = (digest: Uint8Array) => Promise<Uint8Array>;

/** Signs every input's digest with one key (the service's, or the HSM's through the signer). */
export async function signAllInputs(
  psbt: Psbt,
  publicKey: Uint8Array,
  signer: RawSigner,
): Promise<void> {
  const digests = inputDigests(psbt);
  for (const [index, digest] of digests.entries()) {
    addRawSignature(psbt, index, publicKey, await signer(digest));
  }
}

/** PSBT signatures validator for bitcoinjs-lib (ECDSA, strict low-S). */
export function validateSignature(
  publicKey: Uint8Array,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  return ecc.verify(digest, publicKey, signature, true);
}

/**
 * Combines the partial signatures of copies of one PSBT, checks them, finalises every input
 * and returns the network transaction. Throws CUSTODY_E_SIGNATURE_INVALID when an input has
 * fewer than m valid signatures.
 */
export function finaliseTransaction(psbts: readonly Psbt[], m: number): Transaction {
  const [first, ...rest] = psbts;
  if (first === undefined) throw new Error('finaliseTransaction needs at least one PSBT');
  const psbt = first.clone();
  if (rest.length > 0) psbt.combine(...rest);
  psbt.data.inputs.forEach((input, i) => {
    const signatures = input.partialSig?.length ?? 0;
    if (signatures < m || !psbt.validateSignaturesOfInput(i, validateSignature)) {
      throw cofferError(
        'CUSTODY_E_SIGNATURE_INVALID',
        `input ${i} has ${signatures} signatures; it needs ${m} valid ones`,
        { input: i, signatures, m },
      );
    }
  });
  psbt.finalizeAllInputs();
  return psbt.extractTransaction();
}

/**
 * A BIP 125 replacement of `plan`: the same inputs and destination amount, a higher fee rate
 * taken from the change. The new fee must beat the old by the replacement's own relay fee
 * (rule 4). Throws CUSTODY_E_INSUFFICIENT_FUNDS when the change cannot pay it.
 */
export function bumpFee(
  plan: WithdrawalPlan,
  wallet: P2wshMultisig,
  feeRateSatPerVb: number,
  network: Network,
): WithdrawalPlan {
  checkFeeRate(feeRateSatPerVb);
  const destinationScript = outputScriptOf(plan.destination, network);
  const settled = settle(wallet, plan.inputs, plan.amount, destinationScript, feeRateSatPerVb);
  const floor = (vsize: number) => plan.fee + feeFor(vsize, incrementalRelayFeeSatPerVb);
  if (settled === null || settled.fee < floor(settled.vsize)) {
    throw cofferError(
      'CUSTODY_E_INSUFFICIENT_FUNDS',
      `a replacement at ${feeRateSatPerVb} sat/vB must pay more than ${plan.fee} sat plus its relay fee out of the change; raise the rate or build a new withdrawal`,
      { fee: plan.fee.toString(), feeRateSatPerVb },
    );
  }
  return { ...plan, ...settled, feeRateSatPerVb };
}

// --- a recorded withdrawal's PSBT and signatures (the worker's broadcast, the app's checks) ---

/** A coin's name in sets and messages. */
export const outpointOf = (txid: string, vout: number): string => `${txid}:${vout}`;

/** The coins a PSBT spends, as `txid:vout`. */
export function psbtOutpoints(psbt: Psbt): string[] {
  return psbt.txInputs.map((input) =>
    outpointOf(Buffer.from(input.hash).reverse().toString('hex'), input.index),
  );
}

/**
 * The plan a built PSBT carries out (its coins, the amount, the change and the fee it pays):
 * what `bumpFee` raises. The destination is the withdrawal's; the PSBT pays it first.
 */
export function planOfPsbt(psbt: Psbt, destination: string, wallet: P2wshMultisig): WithdrawalPlan {
  const inputs = psbt.txInputs.map((input, i) => {
    const value = psbt.data.inputs[i]?.witnessUtxo?.value;
    if (value === undefined) throw new Error(`PSBT input ${i} has no witnessUtxo`);
    return { txid: Buffer.from(input.hash).reverse().toString('hex'), vout: input.index, value };
  });
  const [pay, change] = psbt.txOutputs;
  if (pay === undefined) throw new Error('the PSBT pays nothing');
  const spent = inputs.reduce((sum, coin) => sum + coin.value, 0n);
  const fee = spent - psbt.txOutputs.reduce((sum, out) => sum + out.value, 0n);
  const vsize = estimateVsize(
    wallet,
    inputs.length,
    psbt.txOutputs.map((out) => out.script),
  );
  return {
    inputs,
    amount: pay.value,
    destination,
    change: change?.value ?? null,
    fee,
    vsize,
    feeRateSatPerVb: Number(fee) / vsize,
  };
}

/** A withdrawal's PSBT from its record's `unsignedTx` (hex). */
export function decodePsbt(unsignedTx: string, withdrawalId: string, network: Network): Psbt {
  try {
    return Psbt.fromHex(unsignedTx, { network });
  } catch (error) {
    throw new Error(
      `withdrawal ${withdrawalId}'s unsignedTx is not a PSBT (${(error as Error).message}); a bitcoin worker did not build it: fail or reject it`,
      { cause: error },
    );
  }
}

/**
 * Why a PSBT is not exactly the withdrawal (null: it is): every input a coin of the wallet's
 * script, output 0 paying `amount` to `destination`, at most one more output, to the wallet.
 */
export function psbtWithdrawalMismatch(
  psbt: Psbt,
  withdrawal: { readonly amount: string; readonly destination: string },
  wallet: P2wshMultisig,
  network: Network,
): string | null {
  const same = (a: Uint8Array | undefined, b: Uint8Array) =>
    a !== undefined && Buffer.from(a).equals(Buffer.from(b));
  for (const [i, input] of psbt.data.inputs.entries()) {
    if (
      !same(input.witnessUtxo?.script, wallet.outputScript) ||
      !same(input.witnessScript, wallet.witnessScript)
    )
      return `input ${i} is not a coin of the wallet's P2WSH`;
  }
  const [pay, change, ...rest] = psbt.txOutputs;
  if (pay === undefined || rest.length > 0)
    return `has ${psbt.txOutputs.length} outputs, not 1 or 2`;
  if (!same(pay.script, outputScriptOf(withdrawal.destination, network)))
    return 'output 0 does not pay the destination';
  if (pay.value !== BigInt(withdrawal.amount)) return `output 0 pays ${pay.value}, not the amount`;
  if (change !== undefined && !same(change.script, wallet.outputScript))
    return "output 1 is not change to the wallet's own address";
  return null;
}

/** What a recorded signature (hex: 64-byte r‖s or DER) may mean as r‖s. */
function rawCandidates(hex: string): Uint8Array[] {
  if (!/^(?:[0-9a-f]{2}){8,72}$/.test(hex)) return [];
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  const candidates: Uint8Array[] = bytes.length === rawSignatureBytes ? [bytes] : [];
  try {
    // A 64-byte DER signature exists too (short r and s): tried after r‖s.
    candidates.push(derSignatureToRaw(bytes));
  } catch {
    // not DER
  }
  return candidates;
}

function tryAdd(psbt: Psbt, index: number, key: Uint8Array, signature: string): boolean {
  for (const raw of rawCandidates(signature)) {
    try {
      addRawSignature(psbt, index, key, raw);
      return true;
    } catch (error) {
      if (!isCofferError(error)) throw error;
    }
  }
  return false;
}

/**
 * A copy of `psbt` with one key's signatures, one per input: the key is the wallet key under
 * which input 0's signature verifies. Throws CUSTODY_E_SIGNATURE_INVALID.
 */
export function signedCopy(
  psbt: Psbt,
  keys: readonly { readonly name: string; readonly key: Uint8Array }[],
  signatures: readonly string[],
  which: string,
): { readonly copy: Psbt; readonly signer: string } {
  if (signatures.length !== psbt.inputCount)
    throw cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `${which} holds ${signatures.length} signatures; the transaction has ${psbt.inputCount} inputs and needs one per input, in input order`,
    );
  for (const { name, key } of keys) {
    const copy = psbt.clone();
    if (!tryAdd(copy, 0, key, signatures[0] ?? '')) continue;
    signatures.forEach((signature, i) => {
      if (i > 0 && !tryAdd(copy, i, key, signature))
        throw cofferError(
          'CUSTODY_E_SIGNATURE_INVALID',
          `${which}: the signature of input ${i} does not verify over its BIP 143 digest with the ${name} key that signed input 0`,
          { input: i },
        );
    });
    return { copy, signer: name };
  }
  throw cofferError(
    'CUSTODY_E_SIGNATURE_INVALID',
    `${which}: the signature of input 0 verifies under none of the wallet's keys (r‖s or DER hex over the input's digest)`,
    { input: 0 },
  );
}

/**
 * The network transaction of a wallet's PSBT from its keys' signature lists (one list per key,
 * one signature per input): each list's key is found among the wallet's keys, m different keys
 * must have signed. Throws CUSTODY_E_SIGNATURE_INVALID.
 */
export function signedWalletTransaction(
  psbt: Psbt,
  wallet: {
    readonly id: string;
    readonly threshold: { readonly m: number };
    readonly keys: WalletKeysHex;
  },
  signatures: readonly (readonly string[])[],
  what: string,
): Transaction {
  const keys = [
    { name: 'service', key: compressPublicKey(wallet.keys.service) },
    { name: 'platform', key: compressPublicKey(wallet.keys.platform.publicKey) },
    { name: 'offline', key: compressPublicKey(wallet.keys.offline) },
  ];
  const copies = signatures.map((list, i) =>
    signedCopy(psbt, keys, list, `signature list ${i} of ${what}`),
  );
  const signers = copies.map((copy) => copy.signer);
  const { m } = wallet.threshold;
  if (new Set(signers).size !== signers.length || signers.length < m)
    throw cofferError(
      'CUSTODY_E_SIGNATURE_INVALID',
      `${what} is signed by ${signers.join(', ') || 'no key'}; it needs ${m} different keys of wallet ${wallet.id}`,
    );
  return finaliseTransaction(
    copies.map((copy) => copy.copy),
    m,
  );
}
