// The EVM app in batch execution (src/evm/app.ts, issue 9): accounts bound to identities with a
// proof of the key, OpenZeppelin's ERC-20 deployed and used by signed Ethereum transactions,
// Ethereum's failure semantics (a revert or out of gas is recorded with status 0 and moves
// the nonce; a wrong nonce is no transaction), permissioning (unbound accounts and revoked
// identities are refused), and two nodes reaching the same writes.
import { Interface, Wallet, getCreateAddress, id, type TransactionRequest } from 'ethers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import { builtInApps, type App } from '../../src/contracts/index.js';
import { executeBatch, type Consortium, type TxOutcome } from '../../src/ledger/execute.js';
import { createReplayWindow } from '../../src/ledger/replay.js';
import { createStore } from '../../src/ledger/store.js';
import { envelopeToJson } from '../../src/ledger/tx.js';
import { revokeCertificate } from '../../src/msp/cryptogen/index.js';
import {
  bindingMessage,
  blockHash,
  defaultChainId,
  evmApp,
  evmMaps,
  recordMaps,
  storedAccount,
  type TxRecord,
} from '../../src/evm/index.js';
import { blockNumberOfHash } from '../../src/evm/chain.js';
import { cofferToken } from '../support/erc20.js';
import { twoOrgs, type Member, type TwoOrgs } from '../support/two-orgs.js';

const chainId = defaultChainId;
const t0 = 1_800_000_000_000;
const apps = new Map<string, App>([...builtInApps(), [evmApp.name, evmApp]]);
const token = new Interface(cofferToken().abi as never);
const alice = new Wallet(`0x${'a1'.repeat(32)}`);
const bob = new Wallet(`0x${'b2'.repeat(32)}`);
const carol = new Wallet(`0x${'c3'.repeat(32)}`);

let orgs: TwoOrgs;
let consortium: Consortium;

beforeAll(async () => {
  orgs = await twoOrgs('coffer-evm-app-', 1);
  consortium = await orgs.loadConsortium();
}, 60_000);

afterAll(async () => {
  await orgs.remove();
});

const member = (name: string): Member => orgs.member(name);

type Node = {
  store: ReturnType<typeof createStore>;
  replay: ReturnType<typeof createReplayWindow>;
  seqno: number;
  position: number;
};

const newNode = (): Node => ({
  store: createStore(),
  replay: createReplayWindow(),
  seqno: 1,
  position: 0,
});

type Requests = readonly { who: string; action: string; args: Record<string, unknown> }[];

/** `evm` requests signed by their `who`, as a batch holds them. */
async function signed(requests: Requests): Promise<unknown[]> {
  const envelopes = [];
  for (const request of requests) {
    const m = member(request.who);
    const envelope = await signEnvelope({
      app: 'evm',
      action: request.action,
      args: request.args,
      identity: m.identity,
      signer: m.signer,
      now: t0,
    });
    envelopes.push(envelopeToJson(envelope.envelope));
  }
  return envelopes;
}

/** Executes envelopes as the node's next batch (the next log position). */
async function runOn(
  node: Node,
  envelopes: readonly unknown[],
  options: { consortium?: Consortium } = {},
): Promise<TxOutcome[]> {
  node.position += 1;
  const output = await executeBatch({
    store: node.store,
    replay: node.replay,
    batch: { time: t0 + node.position * 1000, envelopes },
    firstSeqno: node.seqno,
    previousTime: 0,
    consortium: options.consortium ?? consortium,
    apps,
    preVerified: new Map(),
    position: node.position,
  });
  node.seqno += output.outcomes.length;
  return [...output.outcomes];
}

async function batch(
  node: Node,
  requests: Requests,
  options: { consortium?: Consortium } = {},
): Promise<TxOutcome[]> {
  return runOn(node, await signed(requests), options);
}

const codes = (outcomes: readonly TxOutcome[]) => outcomes.map((o) => o.code ?? o.status);

async function bindArgs(wallet: Wallet, who: string) {
  const m = member(who);
  const message = bindingMessage(chainId, wallet.address, m.mspId, m.identityId);
  return { address: wallet.address, signature: await wallet.signMessage(message) };
}

/** A signed transaction (legacy, EIP-155, gas price 0) as `evm/send` arguments. */
async function sendArgs(wallet: Wallet, nonce: number, request: TransactionRequest) {
  const tx = await wallet.signTransaction({
    type: 0,
    chainId,
    gasPrice: 0n,
    gasLimit: 3_000_000n,
    nonce,
    ...request,
  });
  return { tx };
}

function record(node: Node, hash: unknown): TxRecord {
  const value = node.store.read(recordMaps.txs, String(hash));
  if (value === undefined) throw new Error(`no record of ${String(hash)}`);
  return JSON.parse(value) as TxRecord;
}

const deployData = () => `${cofferToken().bytecode}${token.encodeDeploy([1_000_000n]).slice(2)}`;

/** A node where Org1.User1 bound alice and alice deployed the token; returns its address. */
async function nodeWithToken(): Promise<{ node: Node; tokenAddress: string }> {
  const node = newNode();
  const bound = await batch(node, [
    { who: 'Org1.User1', action: 'bind', args: await bindArgs(alice, 'Org1.User1') },
  ]);
  expect(codes(bound)).toEqual(['committed']);
  const deployed = await batch(node, [
    { who: 'Org1.User1', action: 'send', args: await sendArgs(alice, 0, { data: deployData() }) },
  ]);
  expect(codes(deployed)).toEqual(['committed']);
  const tokenAddress = getCreateAddress({ from: alice.address, nonce: 0 }).toLowerCase();
  expect((deployed[0]?.result as { contractAddress: string }).contractAddress).toBe(tokenAddress);
  return { node, tokenAddress };
}

describe('account binding', () => {
  it('binds an account on proof of its key, once, to one identity', async () => {
    const node = newNode();
    const wrongIdentity = await bindArgs(bob, 'Org2.User1'); // signed for another identity
    const outcomes = await batch(node, [
      { who: 'Org1.User1', action: 'bind', args: wrongIdentity },
      {
        who: 'Org1.User1',
        action: 'bind',
        args: { ...(await bindArgs(bob, 'Org1.User1')), address: carol.address },
      },
      { who: 'Org1.User1', action: 'bind', args: await bindArgs(bob, 'Org1.User1') },
      { who: 'Org1.User1', action: 'bind', args: await bindArgs(bob, 'Org1.User1') },
      { who: 'Org2.User1', action: 'bind', args: await bindArgs(bob, 'Org2.User1') },
    ]);
    expect(codes(outcomes)).toEqual([
      'EVM_E_BINDING_PROOF',
      'EVM_E_BINDING_PROOF',
      'committed',
      'committed', // the same binding again changes nothing
      'EVM_E_ACCOUNT_BOUND',
    ]);
    const binding = JSON.parse(
      node.store.read(recordMaps.bindings, bob.address.toLowerCase()) ?? 'null',
    ) as { mspId: string; identityId: string };
    expect(binding).toMatchObject({
      mspId: 'Org1MSP',
      identityId: member('Org1.User1').identityId,
    });
  });

  it('lets the bound identity or an admin of its MSP unbind, no one else', async () => {
    const node = newNode();
    await batch(node, [
      { who: 'Org1.User1', action: 'bind', args: await bindArgs(carol, 'Org1.User1') },
    ]);
    const outcomes = await batch(node, [
      { who: 'Org2.Admin', action: 'unbind', args: { address: carol.address } },
      { who: 'Org1.Admin', action: 'unbind', args: { address: carol.address } },
      { who: 'Org1.User1', action: 'unbind', args: { address: carol.address } },
    ]);
    expect(codes(outcomes)).toEqual(['APP_E_FORBIDDEN', 'committed', 'EVM_E_ACCOUNT_UNBOUND']);
    expect(node.store.read(recordMaps.bindings, carol.address.toLowerCase())).toBeUndefined();
  });
});

describe('Ethereum transactions', () => {
  it('refuses an account bound to no identity, and keeps nothing of it', async () => {
    const node = newNode();
    const outcomes = await batch(node, [
      { who: 'Org1.User1', action: 'send', args: await sendArgs(bob, 0, { data: deployData() }) },
    ]);
    expect(codes(outcomes)).toEqual(['EVM_E_ACCOUNT_UNBOUND']);
    expect(outcomes[0]?.writeSet).toEqual([]);
  });

  it('deploys the ERC-20, transfers, and records receipts with logs in blocks = batches', async () => {
    const { node, tokenAddress } = await nodeWithToken();
    const transfers = await batch(node, [
      {
        who: 'Org1.User1',
        action: 'send',
        args: await sendArgs(alice, 1, {
          to: tokenAddress,
          data: token.encodeFunctionData('transfer', [bob.address, 250n]),
        }),
      },
      {
        who: 'Org1.User1',
        action: 'send',
        args: await sendArgs(alice, 2, {
          to: tokenAddress,
          data: token.encodeFunctionData('transfer', [carol.address, 50n]),
        }),
      },
    ]);
    expect(codes(transfers)).toEqual(['committed', 'committed']);
    const [first, second] = transfers.map((o) => record(node, (o.result as { hash: string }).hash));
    expect(first).toMatchObject({ block: node.position, index: 0, status: 1, logIndex: 0 });
    expect(second).toMatchObject({ block: node.position, index: 1, status: 1, logIndex: 1 });
    expect(BigInt(second?.cumulativeGasUsed ?? 0)).toBe(
      BigInt(first?.gasUsed ?? 0) + BigInt(second?.gasUsed ?? 0),
    );
    const transferTopic = id('Transfer(address,address,uint256)');
    expect(first?.logs).toEqual([
      {
        address: tokenAddress,
        topics: [
          transferTopic,
          `0x${alice.address.slice(2).toLowerCase().padStart(64, '0')}`,
          `0x${bob.address.slice(2).toLowerCase().padStart(64, '0')}`,
        ],
        data: `0x${(250).toString(16).padStart(64, '0')}`,
      },
    ]);
    const block = JSON.parse(
      node.store.read(recordMaps.blocks, String(node.position)) ?? '{}',
    ) as Record<string, unknown>;
    expect(block).toMatchObject({ number: node.position, count: 2, logs: 2 });
    expect(block['gasUsed']).toBe(second?.cumulativeGasUsed);
    // A transfer writes the balances and the sender's nonce, never the unchanged contract code.
    const maps = new Set(transfers[0]?.writeSet.map((write) => write.map));
    expect(maps.has(evmMaps.storage) && maps.has(evmMaps.accounts)).toBe(true);
    expect(maps.has(evmMaps.code)).toBe(false);
    expect(storedAccount({ get: node.store.read }, alice.address)?.nonce).toBe(3n);
    // Block hashes name their number.
    expect(blockNumberOfHash(chainId, blockHash(chainId, node.position))).toBe(node.position);
  });

  it('records a revert and an out-of-gas with status 0, moving the nonce; a stale nonce is no transaction', async () => {
    const { node, tokenAddress } = await nodeWithToken();
    const tooMuch = token.encodeFunctionData('transfer', [bob.address, 10_000_000n]);
    const outcomes = await batch(node, [
      {
        who: 'Org1.User1',
        action: 'send',
        args: await sendArgs(alice, 1, { to: tokenAddress, data: tooMuch, gasLimit: 200_000n }),
      },
      {
        who: 'Org1.User1',
        action: 'send',
        args: await sendArgs(alice, 2, {
          to: tokenAddress,
          data: token.encodeFunctionData('transfer', [bob.address, 1n]),
          gasLimit: 30_000n,
        }),
      },
      {
        who: 'Org1.User1',
        action: 'send',
        args: await sendArgs(alice, 2, {
          to: tokenAddress,
          data: token.encodeFunctionData('transfer', [bob.address, 1n]),
        }),
      },
    ]);
    expect(codes(outcomes)).toEqual(['committed', 'committed', 'EVM_E_TX_INVALID']);
    expect(outcomes[2]?.message).toMatch(/nonce/);
    const reverted = record(node, (outcomes[0]?.result as { hash: string }).hash);
    expect(reverted).toMatchObject({ status: 0, error: 'revert', logs: [] });
    // ERC20InsufficientBalance(alice, 1000000, 10000000): the revert data is kept.
    const decoded = token.parseError(reverted.output ?? '0x');
    expect(decoded?.name).toBe('ERC20InsufficientBalance');
    expect(decoded?.args.map(String)).toEqual([alice.address, '1000000', '10000000']);
    const outOfGas = record(node, (outcomes[1]?.result as { hash: string }).hash);
    expect(outOfGas).toMatchObject({ status: 0, error: 'out of gas', gasUsed: '30000' });
    expect(storedAccount({ get: node.store.read }, alice.address)?.nonce).toBe(3n);
  });

  it('refuses transactions without this chain id', async () => {
    const { node, tokenAddress } = await nodeWithToken();
    const data = token.encodeFunctionData('transfer', [bob.address, 1n]);
    const unprotected = await alice.signTransaction({
      type: 0,
      gasPrice: 0n,
      gasLimit: 100_000n,
      nonce: 1,
      to: tokenAddress,
      data,
    });
    const outcomes = await batch(node, [
      { who: 'Org1.User1', action: 'send', args: { tx: unprotected } },
      {
        who: 'Org1.User1',
        action: 'send',
        args: await sendArgs(alice, 1, { to: tokenAddress, data, chainId: 1 }),
      },
    ]);
    expect(codes(outcomes)).toEqual(['EVM_E_TX_INVALID', 'EVM_E_TX_INVALID']);
    expect(outcomes[0]?.message).toMatch(/chain id/);
  });

  it('refuses an account whose identity was revoked, whoever relays it', async () => {
    const node = newNode();
    await batch(node, [
      { who: 'Org2.User1', action: 'bind', args: await bindArgs(carol, 'Org2.User1') },
    ]);
    const previous = consortium;
    await revokeCertificate({
      orgDir: orgs.orgDir(2),
      certPem: member('Org2.User1').identity.certPem,
    });
    const revoked = await orgs.loadConsortium();
    const outcomes = await batch(
      node,
      [
        {
          who: 'Org1.User1',
          action: 'send',
          args: await sendArgs(carol, 0, { data: deployData() }),
        },
      ],
      { consortium: revoked },
    );
    consortium = previous;
    expect(codes(outcomes)).toEqual(['EVM_E_IDENTITY_INVALID']);
  });

  it('two nodes running the same batches write the same bytes', async () => {
    const batches = [
      await signed([
        { who: 'Org1.User1', action: 'bind', args: await bindArgs(alice, 'Org1.User1') },
      ]),
      await signed([
        {
          who: 'Org1.User1',
          action: 'send',
          args: await sendArgs(alice, 0, { data: deployData() }),
        },
        {
          who: 'Org1.User1',
          action: 'send',
          args: await sendArgs(alice, 1, {
            to: getCreateAddress({ from: alice.address, nonce: 0 }),
            data: token.encodeFunctionData('transfer', [bob.address, 7n]),
          }),
        },
      ]),
    ];
    const [a, b] = [newNode(), newNode()];
    for (const envelopes of batches) {
      const left = await runOn(a, envelopes);
      const right = await runOn(b, envelopes);
      expect(codes(left)).toEqual(left.map(() => 'committed'));
      expect(JSON.stringify(right)).toBe(JSON.stringify(left));
    }
  });
});
