// The node's Ethereum JSON-RPC endpoint (issue 9, decision 0025): POST /v1/evm/rpc, on the
// node's mutual-TLS API. Reads answer from the committed state (src/evm/rpc.ts); a signed
// Ethereum transaction is relayed into the ledger as an `evm/send` request this node signs
// with its own identity. The relay decides nothing: every node checks the Ethereum signature,
// the account's binding and its identity again when it executes the transaction.
import type { FastifyInstance } from 'fastify';
import { bytesToHex } from '@ethereumjs/util';
import { signEnvelope, type EnvelopeOptions } from '../client/envelope.js';
import type { ClientIdentity } from '../client/signer.js';
import { requestTtlMsMax } from '../ledger/tx.js';
import {
  boundAccount,
  decodeSignedTx,
  invalidTx,
  evmAppName,
  evmParams,
  recordMaps,
  senderOf,
  storedAccount,
} from '../evm/index.js';
import { pendingPerSenderMax, rawTxBytesMax, rpcBatchMax } from '../evm/limits.js';
import { handleRpc, type EvmNode } from '../evm/rpc.js';
import type { Engine } from './engine.js';

/** What a sender has relayed through this node and the ledger has not run yet. */
type SenderPending = { next: number; readonly hashes: Set<string> };

/** The EvmNode of a running engine: its state, its head, and relaying signed by `identity`. */
export function evmNodeOf(
  engine: Engine,
  identity: ClientIdentity,
  signing: Pick<EnvelopeOptions, 'signer' | 'signMessage'>,
): EvmNode {
  const kv = { get: (map: string, key: string) => engine.store().read(map, key) };
  const pending = new Map<string, { readonly raw: string; readonly from: string }>();
  const senders = new Map<string, SenderPending>();
  const pendingNonce = (from: string): number | undefined => senders.get(from)?.next;
  const settled = (hash: string): void => {
    const from = pending.get(hash)?.from;
    pending.delete(hash);
    const sender = from === undefined ? undefined : senders.get(from);
    sender?.hashes.delete(hash);
    if (from !== undefined && sender?.hashes.size === 0) senders.delete(from);
  };
  return {
    kv,
    head: () => {
      const position = engine.position();
      // The batch being executed may already have receipts in the store: it counts as the head.
      return {
        number: position.executingLogPosition ?? position.logPosition,
        time: position.time,
      };
    },
    pendingNonce,
    pendingTx: (hash) => pending.get(hash)?.raw,
    relay: async (rawInput) => {
      if (rawInput.length > 2 + rawTxBytesMax * 2) {
        invalidTx(`the transaction is over ${rawTxBytesMax} bytes`);
      }
      const raw = rawInput.toLowerCase();
      const { chainId } = evmParams(kv);
      const tx = decodeSignedTx(raw, chainId);
      const from = senderOf(tx);
      const hash = bytesToHex(tx.hash());
      // Sent again (a client retrying): the same transaction, the same answer.
      if (pending.has(hash) || kv.get(recordMaps.txs, hash) !== undefined) return hash;
      boundAccount(kv, from);
      const stored = Number(storedAccount(kv, from)?.nonce ?? 0n);
      const next = Math.max(stored, pendingNonce(from) ?? 0);
      const nonce = Number(tx.nonce);
      if (nonce < stored) invalidTx(`nonce too low: ${from}'s next nonce is ${stored}`);
      if (nonce < next) invalidTx(`nonce ${nonce} is taken by a transaction not yet executed`);
      if (nonce > next) {
        invalidTx(
          `nonce too high: ${from}'s next nonce is ${next}; a node keeps no queue of future transactions, so send them in order through one node`,
        );
      }
      const sender = senders.get(from) ?? { next: nonce, hashes: new Set<string>() };
      if (sender.hashes.size >= pendingPerSenderMax) {
        invalidTx(
          `${from} has ${pendingPerSenderMax} transactions not yet executed; wait for them`,
        );
      }
      // Reserved before the awaits: a concurrent request with the next nonce finds it taken.
      pending.set(hash, { raw, from });
      sender.hashes.add(hash);
      sender.next = nonce + 1;
      senders.set(from, sender);
      let txId: string;
      try {
        const signed = await signEnvelope({
          app: evmAppName,
          action: 'send',
          args: { tx: raw },
          identity,
          ...signing,
        });
        const outcome = await engine.submit(signed.envelope, { orderKey: `evm:${from}` });
        if (!outcome.ok) throw outcome.error;
        txId = outcome.txId;
      } catch (error) {
        settled(hash);
        if (sender.next === nonce + 1) sender.next = nonce;
        throw error;
      }
      // Forgotten once executed (or refused, or expired: the request lives requestTtlMsMax).
      void engine.waitFor(txId, requestTtlMsMax + 5_000).finally(() => {
        settled(hash);
      });
      return hash;
    },
  };
}

/** POST /v1/evm/rpc: JSON-RPC 2.0, single requests or batches. */
export function registerEvmRoutes(app: FastifyInstance, node: EvmNode): void {
  app.post(
    '/v1/evm/rpc',
    {
      schema: {
        summary: `Ethereum JSON-RPC 2.0 (what ethers.js and viem use; README "Ethereum JSON-RPC"): a request or a batch of at most ${rpcBatchMax}. Errors are JSON-RPC errors with the Coffer code in their message and data.`,
        body: {
          oneOf: [{ type: 'object' }, { type: 'array', maxItems: rpcBatchMax }],
        },
      },
    },
    async (request) => handleRpc(node, request.body),
  );
}
