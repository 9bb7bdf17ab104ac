// Safe (formerly Gnosis Safe) 1.4.1 multisig maths, pure: the EIP-712 `SafeTx` digest the
// owners sign, a raw r‖s signature turned into the 65-byte r‖s‖v Safe checks with ecrecover,
// the signatures packed in ascending owner order (Safe.checkNSignatures requires it), the
// `setup` initializer of a wallet's Safe and its CREATE2 address. No IO: ethereum.ts is the
// edge that talks to a node.
import {
  AbiCoder,
  Interface,
  Signature,
  SigningKey,
  TypedDataEncoder,
  computeAddress,
  concat,
  getAddress,
  getCreate2Address,
  keccak256,
  solidityPackedKeccak256,
  toBeHex,
} from 'ethers';
import { cofferError } from '../../errors/index.js';
import { derSignatureToRaw, normaliseSignature, rawSignatureBytes } from '../../crypto/index.js';

/** Safe's operation: 0 call (a transfer, a token call), 1 delegatecall (never used by custody). */
export type SafeOperation = 0 | 1;

/** The fields of Safe's `SafeTx` (Safe.sol, SAFE_TX_TYPEHASH), integers as decimal strings. */
export type SafeTx = {
  readonly to: string;
  readonly value: string;
  /** 0x-prefixed hex calldata ('0x' for a plain ETH transfer). */
  readonly data: string;
  readonly operation: SafeOperation;
  readonly safeTxGas: string;
  readonly baseGas: string;
  readonly gasPrice: string;
  readonly gasToken: string;
  readonly refundReceiver: string;
  readonly nonce: string;
};

/** A SafeTx with where it executes: the unsigned transaction of an Ethereum withdrawal. */
export type SafeTxEnvelope = {
  readonly chainId: string;
  readonly safe: string;
  readonly tx: SafeTx;
};

export const zeroAddress = '0x0000000000000000000000000000000000000000';
/** Bytes of one Safe ECDSA signature: r ‖ s ‖ v. */
export const safeSignatureBytes = 65;
/** Longest unsigned-tx encoding the worker decodes (a token transfer's is under 1 KiB). */
export const safeTxEnvelopeCharsMax = 16 * 1024;

const safeTxTypes = {
  SafeTx: [
    { name: 'to', type: 'address' },
    { name: 'value', type: 'uint256' },
    { name: 'data', type: 'bytes' },
    { name: 'operation', type: 'uint8' },
    { name: 'safeTxGas', type: 'uint256' },
    { name: 'baseGas', type: 'uint256' },
    { name: 'gasPrice', type: 'uint256' },
    { name: 'gasToken', type: 'address' },
    { name: 'refundReceiver', type: 'address' },
    { name: 'nonce', type: 'uint256' },
  ],
};

/**
 * The digest owners sign: EIP-712 hash of the SafeTx under the domain {chainId,
 * verifyingContract: the Safe} (Safe 1.3+ domain; Safe.getTransactionHash returns the same).
 */
export function safeTxHash(envelope: SafeTxEnvelope): string {
  return TypedDataEncoder.hash(
    { chainId: BigInt(envelope.chainId), verifyingContract: getAddress(envelope.safe) },
    safeTxTypes,
    envelope.tx,
  );
}

/** A plain call moving `value` wei (or calling `data`), gas paid by the relayer, no refund. */
export function callSafeTx(to: string, value: bigint, data: string, nonce: bigint): SafeTx {
  return {
    to: getAddress(to),
    value: value.toString(),
    data: data.toLowerCase(),
    operation: 0,
    safeTxGas: '0',
    baseGas: '0',
    gasPrice: '0',
    gasToken: zeroAddress,
    refundReceiver: zeroAddress,
    nonce: nonce.toString(),
  };
}

const erc20 = new Interface(['function transfer(address to, uint256 amount) returns (bool)']);

/** calldata of ERC-20 `transfer(to, amount)`. */
export function erc20TransferData(to: string, amount: bigint): string {
  return erc20.encodeFunctionData('transfer', [getAddress(to), amount]);
}

/** The Ethereum address (checksummed) of a SEC1 uncompressed secp256k1 public key in hex. */
export function ownerAddressOf(publicKeyHex: string): string {
  return computeAddress(`0x${publicKeyHex.replace(/^0x/, '')}`);
}

function badSignature(message: string): never {
  throw cofferError('CRYPTO_E_SIGNATURE_MALFORMED', message);
}

/**
 * A Safe ECDSA signature (r ‖ s ‖ v, v 27 or 28) of `digestHex` from a raw r‖s signature (hex,
 * 64 bytes, or DER as the ledger also records): s is brought to low-S first, then v is the one
 * recovery id under which ecrecover yields `ownerPublicKeyHex`. A signature no recovery id
 * maps to the owner is refused (CRYPTO_E_SIGNATURE_MALFORMED): the key that signed is not
 * this owner, or the digest is not this one.
 */
export function safeSignatureOf(
  digestHex: string,
  signatureHex: string,
  ownerPublicKeyHex: string,
): string {
  const hex = signatureHex.replace(/^0x/, '').toLowerCase();
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) badSignature('a signature is hex: 64-byte r‖s or DER');
  const bytes = new Uint8Array(Buffer.from(hex, 'hex'));
  const raw = normaliseSignature(
    'secp256k1',
    bytes.length === rawSignatureBytes ? bytes : derSignatureToRaw(bytes),
  );
  const r = `0x${Buffer.from(raw.subarray(0, 32)).toString('hex')}`;
  const s = `0x${Buffer.from(raw.subarray(32)).toString('hex')}`;
  const owner = SigningKey.computePublicKey(`0x${ownerPublicKeyHex.replace(/^0x/, '')}`, false);
  const digest = `0x${digestHex.replace(/^0x/, '')}`;
  for (const v of [27, 28] as const) {
    const signature = Signature.from({ r, s, v });
    if (SigningKey.recoverPublicKey(digest, signature) === owner) return signature.serialized;
  }
  throw cofferError(
    'CUSTODY_E_SIGNATURE_INVALID',
    `the signature over ${digest} does not recover to the owner key ${ownerPublicKeyHex.slice(0, 18)}…: signed by another key or over another digest`,
  );
}

/**
 * The `signatures` argument of execTransaction: each owner's 65-byte signature, in ascending
 * order of owner address (Safe refuses any other order, GS026), concatenated.
 */
export function packSafeSignatures(
  signed: readonly { readonly owner: string; readonly signature: string }[],
): string {
  const sorted = [...signed]
    .map((item) => ({ owner: BigInt(getAddress(item.owner)), signature: item.signature }))
    .sort((a, b) => (a.owner < b.owner ? -1 : a.owner > b.owner ? 1 : 0));
  for (let i = 1; i < sorted.length; i += 1) {
    if (sorted[i]?.owner === sorted[i - 1]?.owner) badSignature('two signatures of one owner');
  }
  for (const item of sorted) {
    if ((item.signature.length - 2) / 2 !== safeSignatureBytes)
      badSignature(`a Safe signature is ${safeSignatureBytes} bytes`);
  }
  return concat(sorted.map((item) => item.signature));
}

/** The arguments of Safe.execTransaction for `tx` with packed `signatures`, in the ABI's order. */
export function execTransactionArgs(tx: SafeTx, signatures: string) {
  return [
    tx.to,
    tx.value,
    tx.data,
    tx.operation,
    tx.safeTxGas,
    tx.baseGas,
    tx.gasPrice,
    tx.gasToken,
    tx.refundReceiver,
    signatures,
  ] as const;
}

// ---- deployment maths -------------------------------------------------------------------------

const safeSetup = new Interface([
  'function setup(address[] _owners, uint256 _threshold, address to, bytes data, address fallbackHandler, address paymentToken, uint256 payment, address paymentReceiver)',
]);

/** The Safe `setup` call of a wallet: owners in ascending address order, no module, no refund. */
export function safeInitializer(
  owners: readonly string[],
  threshold: number,
  fallbackHandler: string,
): string {
  const sorted = owners
    .map((owner) => getAddress(owner))
    .sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  return safeSetup.encodeFunctionData('setup', [
    sorted,
    threshold,
    zeroAddress,
    '0x',
    getAddress(fallbackHandler),
    zeroAddress,
    0,
    zeroAddress,
  ]);
}

/**
 * The address SafeProxyFactory.createProxyWithNonce deploys to (SafeProxyFactory.deployProxy
 * 1.4.1: CREATE2 with salt keccak256(keccak256(initializer) ‖ saltNonce) over the proxy's
 * creation code followed by the singleton as uint256).
 */
export function safeProxyAddress(options: {
  readonly factory: string;
  readonly singleton: string;
  readonly proxyCreationCode: string;
  readonly initializer: string;
  readonly saltNonce: bigint;
}): string {
  const salt = solidityPackedKeccak256(
    ['bytes32', 'uint256'],
    [keccak256(options.initializer), options.saltNonce],
  );
  const initCode = concat([
    options.proxyCreationCode,
    AbiCoder.defaultAbiCoder().encode(['uint256'], [BigInt(getAddress(options.singleton))]),
  ]);
  return getCreate2Address(getAddress(options.factory), salt, keccak256(initCode));
}

// ---- the unsigned transaction's encoding --------------------------------------------------------

/** The envelope as the withdrawal's `unsignedTx`: hex of its canonical JSON (fixed key order). */
export function encodeSafeTxEnvelope(envelope: SafeTxEnvelope): string {
  const { tx } = envelope;
  const canonical = {
    chainId: envelope.chainId,
    safe: getAddress(envelope.safe),
    tx: {
      to: getAddress(tx.to),
      value: tx.value,
      data: tx.data,
      operation: tx.operation,
      safeTxGas: tx.safeTxGas,
      baseGas: tx.baseGas,
      gasPrice: tx.gasPrice,
      gasToken: getAddress(tx.gasToken),
      refundReceiver: getAddress(tx.refundReceiver),
      nonce: tx.nonce,
    },
  };
  return Buffer.from(JSON.stringify(canonical), 'utf8').toString('hex');
}

const uintPattern = /^(?:0|[1-9][0-9]{0,77})$/;
const addressPattern = /^0x[0-9a-fA-F]{40}$/;

/** Decodes what encodeSafeTxEnvelope wrote; throws APP_E_INVALID_ARGS otherwise. */
export function decodeSafeTxEnvelope(unsignedTx: string): SafeTxEnvelope {
  const invalid = (why: string): never => {
    throw cofferError(
      'APP_E_INVALID_ARGS',
      `the withdrawal's unsigned transaction is not a Safe transaction of this worker: ${why}`,
    );
  };
  if (unsignedTx.length > safeTxEnvelopeCharsMax || !/^(?:[0-9a-f]{2})+$/.test(unsignedTx))
    invalid('not hex');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(unsignedTx, 'hex').toString('utf8'));
  } catch {
    invalid('not JSON');
  }
  const record = parsed as Partial<SafeTxEnvelope> | null;
  const tx = (record?.tx ?? {}) as Partial<Record<keyof SafeTx, unknown>>;
  const uint = (value: unknown, field: string): string =>
    typeof value === 'string' && uintPattern.test(value) ? value : invalid(field);
  const address = (value: unknown, field: string): string =>
    typeof value === 'string' && addressPattern.test(value) ? getAddress(value) : invalid(field);
  const envelope: SafeTxEnvelope = {
    chainId: uint(record?.chainId, 'chainId'),
    safe: address(record?.safe, 'safe'),
    tx: {
      to: address(tx.to, 'tx.to'),
      value: uint(tx.value, 'tx.value'),
      data:
        typeof tx.data === 'string' && /^0x(?:[0-9a-f]{2})*$/.test(tx.data)
          ? tx.data
          : invalid('tx.data'),
      operation: tx.operation === 0 ? 0 : invalid('tx.operation (custody only calls)'),
      safeTxGas: uint(tx.safeTxGas, 'tx.safeTxGas'),
      baseGas: uint(tx.baseGas, 'tx.baseGas'),
      gasPrice: uint(tx.gasPrice, 'tx.gasPrice'),
      gasToken: address(tx.gasToken, 'tx.gasToken'),
      refundReceiver: address(tx.refundReceiver, 'tx.refundReceiver'),
      nonce: uint(tx.nonce, 'tx.nonce'),
    },
  };
  if (encodeSafeTxEnvelope(envelope) !== unsignedTx) invalid('not in its canonical encoding');
  return envelope;
}

/** The hex of a 32-byte value, 0x-prefixed (a wallet id as Safe's saltNonce). */
export function uint256Hex(value: bigint): string {
  return toBeHex(value, 32);
}

/** What a withdrawal approved on the ledger says must be paid. */
export type ApprovedPayment = {
  readonly chainId: string;
  /** The wallet's Safe. */
  readonly safe: string;
  /** The asset's token contract, null for ether. */
  readonly token: string | null;
  readonly destination: string;
  readonly amount: string;
};

/**
 * Why an Ethereum withdrawal's unsigned SafeTx and digest do not pay exactly the approved
 * payment, or null when they do: the Safe and chain, a plain call (no delegatecall), no gas
 * refund (it would pay the relayer from the Safe), ether `value` to the destination with no
 * calldata, or a token's `transfer(destination, amount)` with no value, and the digest the
 * SafeTx's EIP-712 hash. Pure: the custody app can run it at `build`, as it checks coffer's.
 */
export function safeWithdrawalMismatch(
  unsignedTx: string,
  digest: string,
  payment: ApprovedPayment,
): string | null {
  let envelope: SafeTxEnvelope;
  try {
    envelope = decodeSafeTxEnvelope(unsignedTx);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const { tx } = envelope;
  const amount = BigInt(payment.amount);
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();
  if (envelope.chainId !== payment.chainId)
    return `chain id ${envelope.chainId}, not ${payment.chainId}`;
  if (!same(envelope.safe, payment.safe)) return `Safe ${envelope.safe}, not ${payment.safe}`;
  if (tx.safeTxGas !== '0' || tx.baseGas !== '0' || tx.gasPrice !== '0')
    return 'a SafeTx with gas refund fields set';
  if (!same(tx.gasToken, zeroAddress) || !same(tx.refundReceiver, zeroAddress))
    return 'a SafeTx with a refund token or receiver';
  if (payment.token === null) {
    if (!same(tx.to, payment.destination) || BigInt(tx.value) !== amount || tx.data !== '0x')
      return `not a transfer of ${payment.amount} wei to ${payment.destination}`;
  } else if (
    !same(tx.to, payment.token) ||
    tx.value !== '0' ||
    tx.data !== erc20TransferData(payment.destination, amount).toLowerCase()
  ) {
    return `not a transfer of ${payment.amount} of token ${payment.token} to ${payment.destination}`;
  }
  if (safeTxHash(envelope).slice(2) !== digest.toLowerCase().replace(/^0x/, ''))
    return 'the digest is not the SafeTx hash';
  return null;
}
