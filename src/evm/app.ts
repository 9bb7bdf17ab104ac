// The EVM app (issue 9, decision 0025): Ethereum transactions executed by every node like any
// other app, their state in the `evm.` maps. An Ethereum account acts only once an MSP identity
// has bound it (proving it holds the account's key), and only while that identity is valid:
// the consortium's permissioning holds for contracts too. Gas is metered, nothing is paid.
import { createTxFromRLP, type TypedTransaction } from '@ethereumjs/tx';
import { runTx, type RunTxResult } from '@ethereumjs/vm';
import { bytesToHex, hashPersonalMessage, publicToAddress, utf8ToBytes } from '@ethereumjs/util';
import secp256k1 from 'secp256k1';
import { cofferError, isCofferError } from '../errors/index.js';
import { invalidArgs, onlyFields, stringArg } from '../contracts/args.js';
import {
  governanceTrigger,
  type Action,
  type App,
  type KvView,
  type KvWriter,
  type Query,
} from '../contracts/index.js';
import { blockOf, commonOf, txGasMax, withVm } from './chain.js';
import {
  accountsPerIdentityMax,
  logsPerTxMax,
  outputBytesKeptMax,
  rawTxBytesMax,
  txRecordBytesMax,
} from './limits.js';
import { bindingMessage } from './binding.js';
import {
  blockTxKey,
  evmAppName,
  evmParams,
  identityKey,
  readJson,
  recordMaps,
  type BindingRecord,
  type BlockRecord,
  type EvmParams,
  type LogRecord,
  type TxRecord,
} from './records.js';

const addressPattern = /^0x[0-9a-fA-F]{40}$/;
const hexPattern = /^0x(?:[0-9a-fA-F]{2})*$/;

/** The address whose key made `signature` (65 bytes r‖s‖v) over a personal_sign message. */
export function personalSigner(message: string, signature: string): string | undefined {
  const bytes = Buffer.from(signature.slice(2), 'hex');
  if (bytes.length !== 65) return undefined;
  const v = bytes[64] ?? 0;
  const recovery = v >= 27 ? v - 27 : v;
  if (recovery !== 0 && recovery !== 1) return undefined;
  try {
    const publicKey = secp256k1.ecdsaRecover(
      bytes.subarray(0, 64),
      recovery,
      hashPersonalMessage(utf8ToBytes(message)),
      false,
    );
    return bytesToHex(publicToAddress(publicKey.slice(1)));
  } catch {
    return undefined;
  }
}

export function readBinding(kv: KvView, address: string): BindingRecord | undefined {
  return readJson<BindingRecord>(kv, recordMaps.bindings, address.toLowerCase());
}

/** The binding of `address`; EVM_E_ACCOUNT_UNBOUND when it has none. */
export function boundAccount(kv: KvView, address: string): BindingRecord {
  const binding = readBinding(kv, address);
  if (binding === undefined) {
    throw cofferError(
      'EVM_E_ACCOUNT_UNBOUND',
      `${address} is bound to no identity of the consortium`,
      { address },
    );
  }
  return binding;
}

function accountsOf(kv: KvView, mspId: string, identityId: string): string[] {
  return readJson<string[]>(kv, recordMaps.identities, identityKey(mspId, identityId)) ?? [];
}

function writeAccounts(kv: KvWriter, mspId: string, identityId: string, list: string[]): void {
  const key = identityKey(mspId, identityId);
  if (list.length === 0) kv.delete(recordMaps.identities, key);
  else kv.put(recordMaps.identities, key, JSON.stringify(list));
}

const bind: Action = {
  summary:
    "Binds an Ethereum account to the calling identity; the account's personal_sign signature over bindingMessage proves it holds the key.",
  args: {
    type: 'object',
    required: ['address', 'signature'],
    additionalProperties: false,
    properties: {
      address: { type: 'string', pattern: addressPattern.source },
      signature: { type: 'string', pattern: '^0x[0-9a-fA-F]{130}$' },
    },
  },
  run: (context, args) => {
    onlyFields(args, ['address', 'signature']);
    const address = stringArg(args, 'address', addressPattern, 42).toLowerCase();
    const signature = stringArg(args, 'signature', /^0x[0-9a-fA-F]{130}$/, 132);
    const { mspId, identityId } = context.caller;
    const { chainId } = evmParams(context.kv);
    if (
      personalSigner(bindingMessage(chainId, address, mspId, identityId), signature) !== address
    ) {
      throw cofferError(
        'EVM_E_BINDING_PROOF',
        `the signature is not ${address}'s over the binding message for ${mspId} identity ${identityId.slice(0, 16)}… on chain ${chainId}`,
        { address },
      );
    }
    const existing = readBinding(context.kv, address);
    if (existing !== undefined) {
      if (existing.mspId === mspId && existing.identityId === identityId) return existing;
      throw cofferError(
        'EVM_E_ACCOUNT_BOUND',
        `${address} is bound to another identity (${existing.mspId})`,
        { address, mspId: existing.mspId },
      );
    }
    const accounts = accountsOf(context.kv, mspId, identityId);
    if (accounts.length >= accountsPerIdentityMax) {
      throw cofferError(
        'EVM_E_BINDINGS_FULL',
        `identity ${identityId.slice(0, 16)}… has ${accounts.length} accounts bound; at most ${accountsPerIdentityMax}`,
      );
    }
    const record: BindingRecord = {
      address,
      mspId,
      identityId,
      boundAt: context.time,
      txId: context.txId,
    };
    context.kv.put(recordMaps.bindings, address, JSON.stringify(record));
    writeAccounts(context.kv, mspId, identityId, [...accounts, address]);
    return record;
  },
};

const unbind: Action = {
  summary: 'Unbinds an Ethereum account: by the identity it is bound to, or an admin of its MSP.',
  args: {
    type: 'object',
    required: ['address'],
    additionalProperties: false,
    properties: { address: { type: 'string', pattern: addressPattern.source } },
  },
  run: (context, args) => {
    onlyFields(args, ['address']);
    const address = stringArg(args, 'address', addressPattern, 42).toLowerCase();
    const existing = boundAccount(context.kv, address);
    const { caller } = context;
    const own = caller.mspId === existing.mspId && caller.identityId === existing.identityId;
    if (!own && !(caller.isAdmin && caller.mspId === existing.mspId)) {
      throw cofferError(
        'APP_E_FORBIDDEN',
        `only the identity ${address} is bound to, or an admin of ${existing.mspId}, may unbind it`,
      );
    }
    context.kv.delete(recordMaps.bindings, address);
    writeAccounts(
      context.kv,
      existing.mspId,
      existing.identityId,
      accountsOf(context.kv, existing.mspId, existing.identityId).filter((a) => a !== address),
    );
    return { address, unbound: true };
  },
};

/** EVM_E_TX_INVALID: the transaction is not one the chain runs. */
export function invalidTx(message: string, details: Record<string, unknown> = {}): never {
  throw cofferError('EVM_E_TX_INVALID', message, details);
}

/** Decodes a signed transaction for this chain; refuses what the chain does not run. */
export function decodeSignedTx(raw: string, chainId: number): TypedTransaction {
  let tx: TypedTransaction;
  try {
    tx = createTxFromRLP(Buffer.from(raw.slice(2), 'hex'), { common: commonOf(chainId) });
  } catch (error) {
    return invalidTx(`the transaction does not decode: ${(error as Error).message}`);
  }
  if (tx.type > 2) invalidTx(`transaction type ${tx.type} is not supported (0, 1 and 2 are)`);
  if (!tx.isSigned()) invalidTx('the transaction is not signed');
  if (tx.type === 0 && tx.v !== undefined && tx.v < 35n) {
    invalidTx(`the transaction has no chain id (EIP-155); sign it for chain ${chainId}`);
  }
  if (tx.gasLimit > txGasMax) {
    invalidTx(`the transaction's gas limit ${tx.gasLimit} is over ${txGasMax}`);
  }
  return tx;
}

/** The sender of a decoded transaction (lower-case 0x hex); refuses a bad signature. */
export function senderOf(tx: TypedTransaction): string {
  try {
    return tx.getSenderAddress().toString();
  } catch (error) {
    return invalidTx(`the signature does not verify: ${(error as Error).message}`);
  }
}

function logsOf(result: RunTxResult): LogRecord[] {
  return (result.execResult.logs ?? []).map(([address, topics, data]) => ({
    address: bytesToHex(address),
    topics: topics.map((topic) => bytesToHex(topic)),
    data: bytesToHex(data),
  }));
}

const send: Action = {
  summary:
    'Runs a signed Ethereum transaction (what eth_sendRawTransaction relays): its sender must be bound to a valid identity of the consortium.',
  args: {
    type: 'object',
    required: ['tx'],
    additionalProperties: false,
    properties: { tx: { type: 'string', pattern: hexPattern.source } },
  },
  run: async (context, args) => {
    onlyFields(args, ['tx']);
    const raw = stringArg(args, 'tx', hexPattern, 2 + rawTxBytesMax * 2).toLowerCase();
    const { kv } = context;
    const { chainId } = evmParams(kv);
    const tx = decodeSignedTx(raw, chainId);
    const from = senderOf(tx);
    const binding = boundAccount(kv, from);
    if (context.identityOf?.(binding.mspId, binding.identityId) === undefined) {
      throw cofferError(
        'EVM_E_IDENTITY_INVALID',
        `${from} is bound to ${binding.mspId} identity ${binding.identityId.slice(0, 16)}…, which is no longer valid`,
        { address: from, mspId: binding.mspId },
      );
    }
    const number = context.block ?? 0;
    const blockKey = String(number);
    const before = readJson<BlockRecord>(kv, recordMaps.blocks, blockKey) ?? {
      number,
      time: context.time,
      count: 0,
      gasUsed: '0',
      logs: 0,
    };
    let result: RunTxResult;
    try {
      result = await withVm(chainId, kv, async (vm, state) => {
        const ran = await runTx(vm, {
          tx,
          block: blockOf(chainId, number, context.time),
          blockGasUsed: BigInt(before.gasUsed),
          skipBlockGasLimitValidation: true,
        });
        if ((ran.execResult.logs?.length ?? 0) > logsPerTxMax) {
          invalidTx(`the transaction emits more than ${logsPerTxMax} logs`);
        }
        state.persist();
        return ran;
      });
    } catch (error) {
      if (isCofferError(error)) throw error;
      return invalidTx(`the EVM refused the transaction: ${(error as Error).message}`);
    }
    const hash = bytesToHex(tx.hash());
    const failed = result.execResult.exceptionError;
    const output = bytesToHex(result.execResult.returnValue);
    const record: TxRecord = {
      hash,
      block: number,
      index: before.count,
      from,
      to: tx.to === undefined ? null : tx.to.toString(),
      contractAddress: result.createdAddress?.toString() ?? null,
      status: failed === undefined ? 1 : 0,
      gasUsed: result.totalGasSpent.toString(),
      cumulativeGasUsed: (BigInt(before.gasUsed) + result.totalGasSpent).toString(),
      logIndex: before.logs,
      logs: failed === undefined ? logsOf(result) : [],
      raw,
      ...(failed === undefined
        ? {}
        : {
            error: failed.error,
            output: output.length <= 2 + outputBytesKeptMax * 2 ? output : output.slice(0, 2),
          }),
      txId: context.txId,
    };
    const encoded = JSON.stringify(record);
    if (encoded.length > txRecordBytesMax) {
      invalidTx(
        `the transaction's receipt is ${encoded.length} bytes; at most ${txRecordBytesMax}`,
      );
    }
    kv.put(recordMaps.txs, hash, encoded);
    kv.put(recordMaps.blockTxs, blockTxKey(number, before.count), hash);
    const after: BlockRecord = {
      ...before,
      count: before.count + 1,
      gasUsed: record.cumulativeGasUsed,
      logs: before.logs + record.logs.length,
    };
    kv.put(recordMaps.blocks, blockKey, JSON.stringify(after));
    return {
      hash,
      status: record.status,
      gasUsed: record.gasUsed,
      ...(record.contractAddress === null ? {} : { contractAddress: record.contractAddress }),
      ...(failed === undefined ? {} : { error: failed.error }),
    };
  },
};

/** Largest chain id (EIP-2294's bound), as governance's set_evm checks it. */
const chainIdMax = 4_294_967_295;

const setParams: Action = {
  summary:
    "Sets the chain's parameters (its chain id): only through an accepted governance proposal (set_evm).",
  args: {
    type: 'object',
    required: ['chainId'],
    additionalProperties: false,
    properties: { chainId: { type: 'integer', minimum: 1, maximum: chainIdMax } },
  },
  run: (context, args) => {
    onlyFields(args, ['chainId']);
    if (context.trigger !== governanceTrigger) {
      throw cofferError(
        'APP_E_FORBIDDEN',
        "the EVM's parameters change only through an accepted governance proposal (set_evm)",
      );
    }
    const chainId = args['chainId'];
    if (
      typeof chainId !== 'number' ||
      !Number.isSafeInteger(chainId) ||
      chainId < 1 ||
      chainId > chainIdMax
    ) {
      return invalidArgs('chainId', `must be a whole number from 1 to ${chainIdMax}`);
    }
    const params: EvmParams = { chainId };
    context.kv.put(recordMaps.params, 'params', JSON.stringify(params));
    return params;
  },
};

const queries: Record<string, Query> = {
  params: {
    summary: "The chain's parameters (its chain id).",
    args: { type: 'object', additionalProperties: false, properties: {} },
    run: (context) => evmParams(context.kv),
  },
  binding: {
    summary: 'The identity an Ethereum account is bound to (null when none).',
    args: {
      type: 'object',
      required: ['address'],
      additionalProperties: false,
      properties: { address: { type: 'string', pattern: addressPattern.source } },
    },
    run: (context, args) =>
      readBinding(context.kv, stringArg(args, 'address', addressPattern, 42)) ?? null,
  },
  accounts: {
    summary: 'The Ethereum accounts bound to an identity.',
    args: {
      type: 'object',
      required: ['mspId', 'identityId'],
      additionalProperties: false,
      properties: {
        mspId: { type: 'string', minLength: 1, maxLength: 256 },
        identityId: { type: 'string', pattern: '^[0-9a-f]{64}$' },
      },
    },
    run: (context, args) => ({
      accounts: accountsOf(
        context.kv,
        stringArg(args, 'mspId', /^.+$/, 256),
        stringArg(args, 'identityId', /^[0-9a-f]{64}$/, 64),
      ),
    }),
  },
};

export const evmApp: App = {
  name: evmAppName,
  version: '1.0.0',
  summary:
    'Ethereum contracts: signed Ethereum transactions run by every node in the EVM, from accounts bound to consortium identities; Ethereum JSON-RPC at /v1/evm/rpc.',
  actions: { bind, unbind, send, set_params: setParams },
  queries,
};
