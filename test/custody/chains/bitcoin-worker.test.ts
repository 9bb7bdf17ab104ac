// The Bitcoin chain worker (src/custody/chains/bitcoin.ts) against a real bcoin regtest node:
// the wallet's P2WSH address, a deposit reported with growing confirmations until the depth, a
// withdrawal built as a PSBT (one digest per input, exact payment, change home), signed by the
// service (DER) and the HSM (high-S r‖s), broadcast, replayed, mined and followed; coins never
// shared by two builds (in process and through the ledger); refusals before sending; a spend of
// the same coins by another transaction; reorganisations of a withdrawal and of a deposit. Then
// the JSON-RPC client's errors against a fake HTTP server (Bitcoin Core's shapes).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Block, Psbt } from 'bitcoinjs-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  publicKeyOfScalar,
  rawSignatureToDer,
  signDigestWithScalar,
} from '../../../src/crypto/keys.js';
import { createBitcoinChain, type BitcoinChain } from '../../../src/custody/chains/bitcoin.js';
import { depositsInBlock, watchList } from '../../../src/custody/chains/bitcoin-deposits.js';
import {
  estimateVsize,
  inputDigests,
  psbtOutpoints,
  psbtWithdrawalMismatch,
} from '../../../src/custody/chains/bitcoin-psbt.js';
import {
  bcoinUtxoSource,
  createBitcoinRpc,
  type BitcoinRpcOptions,
} from '../../../src/custody/chains/bitcoin-rpc.js';
import {
  bcoinRegtest,
  outputScriptOf,
  walletP2wsh,
} from '../../../src/custody/chains/bitcoin-script.js';
import type { LedgerPort, SeenDeposit } from '../../../src/custody/chains/types.js';
import type { WithdrawalRecord } from '../../../src/custody/types.js';
import { regtestSegwitHeight, startBcoin, type BcoinNode } from '../../support/bcoin.js';
import { payFromMiner } from '../../support/bcoin-miner.js';
import { walletRecordOf } from '../records.js';

const network = bcoinRegtest;
const depth = 3;
const btc = 100_000_000n;
const scalar = (n: number) => new Uint8Array(Buffer.from(n.toString(16).padStart(64, '0'), 'hex'));
const keyHex = (n: number) => publicKeyOfScalar('secp256k1', scalar(n));
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const secp256k1Order = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
/** Raw r‖s of `digest` by key n. */
const sign = (n: number, digest: string) =>
  signDigestWithScalar('secp256k1', scalar(n), Buffer.from(digest, 'hex'));
/** The service: DER, as the ledger may record it. */
const serviceSigs = (digests: readonly string[], n = 2) =>
  digests.map((d) => hex(rawSignatureToDer(sign(n, d))));
/** The HSM: raw r‖s as PKCS#11 returns it, always with the high s (n - s). */
const hsmSigs = (digests: readonly string[], n = 3) =>
  digests.map((d) => {
    const raw = sign(n, d);
    const s = BigInt(`0x${hex(raw.subarray(32))}`);
    return hex(raw.subarray(0, 32)) + (secp256k1Order - s).toString(16).padStart(64, '0');
  });

function walletRecord(id: string, offline: number, service: number, platform: number) {
  return walletRecordOf(
    'bitcoin',
    { offline: keyHex(offline), service: keyHex(service), platform: keyHex(platform) },
    { id, platformKeyId: 'hsm-1' },
  );
}
const wallet = walletRecord('w1', 1, 2, 3);
const p2wsh = walletP2wsh(2, wallet.keys, network);
const destination = walletP2wsh(2, walletRecord('w2', 4, 5, 6).keys, network).address;
const miner = walletP2wsh(1, walletRecord('m', 7, 8, 9).keys, network);

/** The fields the worker reads (the record's signature fields are changing: not needed here). */
function withdrawal(id: string, amount: bigint, more: Partial<WithdrawalRecord> = {}) {
  return {
    id,
    walletId: wallet.id,
    chain: 'bitcoin',
    asset: 'BTC',
    amount: amount.toString(),
    destination,
    state: 'approved',
    unsignedTx: null,
    chainTxId: null,
    ...more,
  } as unknown as WithdrawalRecord;
}

/**
 * A ledger that knows registered addresses, answers the given open withdrawals (a page each)
 * and the states of single withdrawals.
 */
function fakeLedger(
  open: Readonly<Record<string, readonly WithdrawalRecord[]>> = {},
  states = new Map<string, string>(),
) {
  const submitted: { action: string; args: Readonly<Record<string, unknown>> }[] = [];
  const queried: Readonly<Record<string, unknown>>[] = [];
  const addresses = new Set<string>();
  const notFound = () =>
    Promise.reject(Object.assign(new Error('not found'), { code: 'CUSTODY_E_NOT_FOUND' }));
  const ledger: LedgerPort = {
    submit: (_app, action, args) => {
      submitted.push({ action, args });
      if (action === 'add_address') addresses.add(String(args['address']));
      return Promise.resolve({ txId: `tx${submitted.length}`, status: 'Committed', seqno: 1 });
    },
    status: (txId) => Promise.resolve({ txId, status: 'Unknown' }),
    receipt: (txId) => Promise.resolve({ txId }),
    query: (_app, name, args = {}) => {
      queried.push({ name, ...args });
      if (name === 'address')
        return addresses.has(String(args['address'])) ? Promise.resolve({}) : notFound();
      if (name === 'withdrawals') {
        const list = open[String(args['state'])] ?? [];
        const at = Number(args['cursor'] ?? 0);
        return Promise.resolve({
          withdrawals: list.slice(at, at + 1),
          next: at + 1 < list.length ? at + 1 : null,
        });
      }
      const state = states.get(String(args['withdrawalId']));
      if (name === 'withdrawal' && state !== undefined)
        return Promise.resolve({ withdrawal: { id: args['withdrawalId'], state } });
      return notFound();
    },
  };
  return { ledger, submitted, queried };
}

describe('Bitcoin chain worker on a bcoin regtest node', () => {
  let node: BcoinNode;
  let rpc: BitcoinRpcOptions;
  let chain: BitcoinChain;
  const ledger = fakeLedger();
  const chains: BitcoinChain[] = [];
  const worker = (more: { ledger?: LedgerPort; feeMaxSat?: bigint } = {}) => {
    const created = createBitcoinChain({
      rpc,
      network: 'bcoin-regtest',
      confirmations: depth,
      feeRateFallbackSatPerVb: 2,
      startHeight: regtestSegwitHeight + 2,
      pollMs: 20,
      ...more,
    });
    chains.push(created);
    return created;
  };
  const mine = async (blocks = 1) => node.mine(blocks, miner.address);
  const mempool = () => node.rpc<string[]>('getrawmempool');

  /** The miner pays `outputs` from one mature coinbase (1-of-3 P2WSH, key 7). */
  async function fund(outputs: readonly { address: string; value: bigint }[]): Promise<string> {
    return payFromMiner(node, outputs);
  }

  /** Builds, and signs with the service (DER) and the HSM (high-S r‖s). */
  async function builtAndSigned(on: BitcoinChain, id: string, amount: bigint) {
    const built = await on.build(withdrawal(id, amount), wallet);
    const record = withdrawal(id, amount, {
      unsignedTx: built.unsignedTx,
      state: 'platform_signed',
    });
    return { built, record, signatures: [serviceSigs(built.digests), hsmSigs(built.digests)] };
  }

  beforeAll(async () => {
    node = await startBcoin();
    rpc = { url: node.rpcUrl, auth: { apiKey: node.apiKey } };
    chain = worker({ ledger: ledger.ledger });
    // Segwit active; the miner's first coinbases mature.
    await mine(regtestSegwitHeight + 1);
  });
  afterAll(async () => {
    for (const created of chains) created.close();
    await node.stop();
  });

  it("prepareWallet: the wallet's P2WSH address, watched and registered on the ledger once", async () => {
    const addresses = await Promise.all([chain.prepareWallet(wallet), chain.prepareWallet(wallet)]);
    expect(addresses).toEqual([p2wsh.address, p2wsh.address]);
    expect(p2wsh.address).toMatch(/^rb1q/);
    expect(await chain.prepareWallet(wallet)).toBe(p2wsh.address);
    expect(ledger.submitted).toEqual([
      { action: 'add_address', args: { walletId: 'w1', address: p2wsh.address } },
    ]);
  });

  let fundTx = '';
  let cursor: string | null = null;
  const depositsOf = (txid: string, deposits: readonly SeenDeposit[]) =>
    deposits.filter((deposit) => deposit.chainTxId === txid);

  it('scanDeposits reports a deposit with growing confirmations until the depth, then scans past', async () => {
    fundTx = await fund([
      { address: p2wsh.address, value: 2n * btc },
      { address: p2wsh.address, value: btc },
      { address: p2wsh.address, value: btc / 2n },
    ]);
    const [fundBlock = ''] = await mine();
    const height = await node.rpc<number>('getblockcount');
    let scan = await chain.scanDeposits(null);
    expect(depositsOf(fundTx, scan.deposits).map((deposit) => ({ ...deposit, next: '' }))).toEqual(
      [2n * btc, btc, btc / 2n].map((value, outputIndex) => ({
        chainTxId: fundTx,
        outputIndex,
        address: p2wsh.address,
        walletId: 'w1',
        asset: 'BTC',
        amount: value.toString(),
        block: { height, hash: fundBlock },
        confirmations: 1,
        next: '',
      })),
    );
    for (const confirmations of [2, 3]) {
      await mine();
      scan = await chain.scanDeposits(scan.cursor);
      expect(depositsOf(fundTx, scan.deposits).map((d) => d.confirmations)).toEqual(
        Array(3).fill(confirmations),
      );
    }
    scan = await chain.scanDeposits(scan.cursor);
    expect(depositsOf(fundTx, scan.deposits)).toEqual([]);
    cursor = scan.cursor;
  });

  let paid = '';
  it('build: one digest per input, the amount to the destination, the change home', async () => {
    const built = await chain.build(withdrawal('wd1', (5n * btc) / 2n), wallet);
    const psbt = Psbt.fromHex(built.unsignedTx, { network });
    expect(psbtOutpoints(psbt)).toEqual([`${fundTx}:0`, `${fundTx}:1`]);
    expect(built.digests).toEqual(inputDigests(psbt).map(hex));
    expect(psbtWithdrawalMismatch(psbt, withdrawal('wd1', (5n * btc) / 2n), p2wsh, network)).toBe(
      null,
    );
    const [pay, change, ...rest] = psbt.txOutputs;
    expect(rest).toEqual([]);
    expect(hex(pay?.script ?? new Uint8Array())).toBe(hex(outputScriptOf(destination, network)));
    expect(pay?.value).toBe((5n * btc) / 2n);
    expect(hex(change?.script ?? new Uint8Array())).toBe(hex(p2wsh.outputScript));
    // bcoin's regtest has no fee estimate: the fallback rate, 2 sat/vB.
    const vsize = estimateVsize(p2wsh, 2, [
      outputScriptOf(destination, network),
      p2wsh.outputScript,
    ]);
    expect(3n * btc - (5n * btc) / 2n - (change?.value ?? 0n)).toBe(BigInt(vsize * 2));
    await expect(
      chain.build(withdrawal('wd-eth', btc, { asset: 'ETH' }), wallet),
    ).rejects.toMatchObject({ code: 'APP_E_INVALID_ARGS' });
    await expect(chain.build(withdrawal('wd-big', 1000n * btc), wallet)).rejects.toMatchObject({
      code: 'CUSTODY_E_INSUFFICIENT_FUNDS',
    });
    // Over the governed fee cap: not built (the ledger would refuse it).
    await expect(
      worker({ feeMaxSat: BigInt(vsize * 2) - 1n }).build(
        withdrawal('wd1', (5n * btc) / 2n),
        wallet,
      ),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_FEE_TOO_HIGH' });

    // Service (DER) and HSM (high-S r‖s) signatures, broadcast: in the mempool, pending.
    const record = withdrawal('wd1', (5n * btc) / 2n, { unsignedTx: built.unsignedTx });
    const signatures = [serviceSigs(built.digests), hsmSigs(built.digests)];
    const sent = await chain.broadcast(record, wallet, signatures);
    if (!('chainTxId' in sent)) throw new Error(sent.failed);
    paid = sent.chainTxId;
    expect(await mempool()).toContain(paid);
    expect(await chain.follow(paid)).toEqual({ state: 'pending' });
    // A crash between broadcast and its ledger record: broadcast again, the same txid.
    expect(await chain.broadcast(record, wallet, signatures)).toEqual({ chainTxId: paid });

    const [block] = await mine();
    // Its change goes back to the wallet's own address, and is no deposit.
    const blockHex = await node.rpc<string>('getblock', [block, false]);
    const height = await node.rpc<number>('getblockcount');
    const mined = Block.fromHex(blockHex).transactions?.find((item) => item.getId() === paid);
    expect(mined?.outs.some((out) => hex(out.script) === hex(p2wsh.outputScript))).toBe(true);
    expect(
      depositsInBlock(
        blockHex,
        { height, hash: block ?? '' },
        watchList([p2wsh.address], network),
        1,
        '',
      ).filter((deposit) => deposit.chainTxId === paid),
    ).toEqual([]);
    expect(await chain.follow(paid)).toEqual({
      state: 'confirmed',
      block: { height: await node.rpc<number>('getblockcount'), hash: block },
      confirmations: 1,
    });
    await mine(2);
    expect(await chain.follow(paid)).toMatchObject({ state: 'confirmed', confirmations: 3 });
    expect(await chain.broadcast(record, wallet, signatures)).toEqual({ chainTxId: paid });
    const received = await bcoinUtxoSource(chain.rpc).coinsOf(destination);
    expect(received.map((coin) => [coin.txid, coin.value])).toEqual([[paid, (5n * btc) / 2n]]);
  });

  it("two builds of one wallet never share a coin: in process, and with the ledger's open withdrawals", async () => {
    // Coins now: fundTx:2 (0.5 BTC) and wd1's change (about 0.5 BTC).
    const local = worker();
    const [a, b] = await Promise.all([
      local.build(withdrawal('a', btc / 10n), wallet),
      local.build(withdrawal('b', btc / 10n), wallet),
    ]);
    const coinsOf = (unsignedTx: string) => psbtOutpoints(Psbt.fromHex(unsignedTx, { network }));
    expect(coinsOf(a.unsignedTx)).toHaveLength(1);
    expect(coinsOf(b.unsignedTx)).toHaveLength(1);
    expect(coinsOf(a.unsignedTx)).not.toEqual(coinsOf(b.unsignedTx));
    await expect(local.build(withdrawal('c', btc / 10n), wallet)).rejects.toMatchObject({
      code: 'CUSTODY_E_INSUFFICIENT_FUNDS',
    });
    // A rebuild of a withdrawal may take its own coins again.
    expect(coinsOf((await local.build(withdrawal('a', btc / 10n), wallet)).unsignedTx)).toEqual(
      coinsOf(a.unsignedTx),
    );

    // Another process: the ledger shows a's PSBT built and signed by the service.
    const held = withdrawal('a', btc / 10n, { unsignedTx: a.unsignedTx, state: 'service_signed' });
    const other = fakeLedger({ service_signed: [held] });
    const elsewhere = worker({ ledger: other.ledger });
    const built = await elsewhere.build(withdrawal('d', btc / 10n), wallet);
    expect(coinsOf(built.unsignedTx)).toEqual(coinsOf(b.unsignedTx));
    expect(other.queried).toContainEqual({ name: 'withdrawals', chain: 'bitcoin', state: 'built' });
    const both = fakeLedger({
      built: [held, withdrawal('b', btc / 10n, { unsignedTx: b.unsignedTx, state: 'built' })],
    });
    await expect(
      worker({ ledger: both.ledger }).build(withdrawal('e', btc / 10n), wallet),
    ).rejects.toMatchObject({ code: 'CUSTODY_E_INSUFFICIENT_FUNDS' });
    expect(both.queried).toContainEqual({
      name: 'withdrawals',
      chain: 'bitcoin',
      state: 'built',
      cursor: 1,
    });

    // With the ledger, a build's claim lasts while its withdrawal is still approved there.
    const states = new Map([['f', 'approved']]);
    const claiming = worker({ ledger: fakeLedger({}, states).ledger });
    const f = await claiming.build(withdrawal('f', btc / 10n), wallet);
    const g = await claiming.build(withdrawal('g', btc / 10n), wallet);
    expect(coinsOf(g.unsignedTx)).not.toEqual(coinsOf(f.unsignedTx));
    states.set('f', 'rejected');
    const h = await claiming.build(withdrawal('h', btc / 10n), wallet);
    expect(coinsOf(h.unsignedTx)).toEqual(coinsOf(f.unsignedTx));
  });

  it('refuses, before sending, a signature of a key not of the wallet, a short list, one key twice', async () => {
    const { built, record } = await builtAndSigned(worker(), 'wd2', btc / 10n);
    const before = await mempool();
    const refused = (signatures: readonly (readonly string[])[]) =>
      expect(chain.broadcast(record, wallet, signatures)).rejects.toMatchObject({
        code: 'CUSTODY_E_SIGNATURE_INVALID',
      });
    await refused([serviceSigs(built.digests, 4), hsmSigs(built.digests)]);
    await refused([serviceSigs(built.digests), []]);
    await refused([serviceSigs(built.digests), serviceSigs(built.digests)]);
    // The HSM's signatures over another digest.
    await refused([serviceSigs(built.digests), hsmSigs(built.digests.map(() => '11'.repeat(32)))]);
    expect(await mempool()).toEqual(before);
  });

  it('a spend of the same coins by another withdrawal: not sent, then failed once it has the depth', async () => {
    // Two processes without the ledger pick the same largest coin.
    const x = await builtAndSigned(worker(), 'x', btc / 5n);
    const y = await builtAndSigned(worker(), 'y', btc / 4n);
    const coins = (unsignedTx: string | null) =>
      psbtOutpoints(Psbt.fromHex(unsignedTx ?? '', { network }));
    expect(coins(x.record.unsignedTx)).toEqual(coins(y.record.unsignedTx));
    const sent = await chain.broadcast(y.record, wallet, y.signatures);
    expect(sent).toHaveProperty('chainTxId');
    await mine();
    await expect(chain.broadcast(x.record, wallet, x.signatures)).rejects.toThrow(
      /spent by another transaction 1 blocks ago; reported failed at 3/,
    );
    await mine(depth - 1);
    expect(await chain.broadcast(x.record, wallet, x.signatures)).toEqual({
      failed: expect.stringMatching(/were spent by another transaction$/) as unknown,
    });
  });

  it('a withdrawal a reorganisation dropped is sent again and confirms', async () => {
    const z = await builtAndSigned(chain, 'z', btc / 20n);
    const sent = await chain.broadcast(z.record, wallet, z.signatures);
    if (!('chainTxId' in sent)) throw new Error(sent.failed);
    const [first] = await mine();
    expect(await chain.follow(sent.chainTxId)).toMatchObject({ block: { hash: first } });
    // bcoin's invalidateblock does not return the block's transactions to its mempool.
    await node.rpc('invalidateblock', [first]);
    expect(await mempool()).not.toContain(sent.chainTxId);
    expect(await chain.follow(sent.chainTxId)).toEqual({ state: 'pending' });
    await expect.poll(mempool, { timeout: 5000, interval: 20 }).toContain(sent.chainTxId);
    const [second] = await mine();
    expect(await chain.follow(sent.chainTxId)).toMatchObject({
      state: 'confirmed',
      block: { hash: second },
      confirmations: 1,
    });
  });

  it('a reorganisation drops a deposit seen at 1 confirmation: no longer scanned, not in its block', async () => {
    const txid = await fund([{ address: p2wsh.address, value: btc / 4n }]);
    const [block] = await mine();
    const scan = await chain.scanDeposits(cursor);
    const [deposit] = depositsOf(txid, scan.deposits);
    expect(deposit).toMatchObject({ confirmations: 1, block: { hash: block } });
    if (deposit === undefined) throw new Error('deposit not seen');
    expect(await chain.depositInBlock(deposit)).toBe(true);
    expect(
      await chain.depositInBlock({ chainTxId: txid, block: { hash: deposit.block.hash } }),
    ).toBe(true);

    await node.rpc('invalidateblock', [block]);
    await mine(2);
    const rescan = await chain.scanDeposits(scan.cursor);
    expect(depositsOf(txid, rescan.deposits)).toEqual([]);
    expect(await chain.depositInBlock(deposit)).toBe(false);
    expect(
      await chain.depositInBlock({ chainTxId: txid, block: { hash: deposit.block.hash } }),
    ).toBe(false);
  });
});

describe('Bitcoin JSON-RPC client', () => {
  type Handler = (
    body: { method: string; params: unknown[] },
    req: IncomingMessage,
    res: ServerResponse,
  ) => void;
  let handler: Handler = () => undefined;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      handler(JSON.parse(body || '{}') as { method: string; params: unknown[] }, req, res);
    });
  });
  let url = '';
  const reply = (res: ServerResponse, status: number, json: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(json));
  };
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("maps Bitcoin Core's answers: not found, already in chain, fee rates, RPC errors", async () => {
    const client = createBitcoinRpc({ url, auth: { user: 'coffer', password: 'pw-secret' } });
    let authorization = '';
    handler = ({ method, params }, req, res) => {
      authorization = req.headers.authorization ?? '';
      const error = (code: number, message: string) => ({ result: null, error: { code, message } });
      const answers: Readonly<Record<string, readonly [number, unknown]>> = {
        getrawtransaction: [500, error(-5, 'No such mempool or blockchain transaction')],
        sendrawtransaction: [500, error(-27, 'Transaction already in block chain')],
        estimatesmartfee: [
          200,
          {
            result:
              params[0] === 6
                ? { feerate: 0.00012, blocks: 6 }
                : { errors: ['Insufficient data or no feerate found'], blocks: 2 },
            error: null,
          },
        ],
      };
      const [status, json] = answers[method] ?? [500, error(-8, 'Block height out of range')];
      reply(res, status, json);
    };
    const txid = 'ab'.repeat(32);
    expect(await client.transaction(txid)).toBeNull();
    expect(authorization).toBe(`Basic ${Buffer.from('coffer:pw-secret').toString('base64')}`);
    expect(await client.sendRawTransaction('00', txid)).toBe(txid);
    expect(await client.estimateFeeRate(6)).toBeCloseTo(12);
    expect(await client.estimateFeeRate(2)).toBeNull();
    await expect(client.blocks.getBlockHash(10)).rejects.toMatchObject({
      code: 'CUSTODY_E_CHAIN_NODE',
      details: { method: 'getblockhash', kind: 'rpc', rpcCode: -8 },
    });
  });

  it('refused credentials, a non-JSON answer, an answer over the limit, a timeout, no node, closed', async () => {
    const client = createBitcoinRpc({
      url,
      auth: { user: 'coffer', password: 'pw-secret' },
      timeoutMs: 300,
      responseBytesMax: 1000,
    });
    const failure = async (call: Promise<unknown>, kind: string) => {
      const error = await call.then(
        () => null,
        (e: unknown) => e as Error & { details: unknown },
      );
      expect(error).toMatchObject({ code: 'CUSTODY_E_CHAIN_NODE', details: { kind } });
      expect(error?.message).not.toContain('pw-secret');
    };
    handler = (_body, _req, res) => {
      reply(res, 401, null);
    };
    await failure(client.blocks.getBlockCount(), 'auth');
    handler = (_body, _req, res) => {
      res.writeHead(200);
      res.end('<html>');
    };
    await failure(client.blocks.getBlockCount(), 'malformed');
    // Too large, declared (content-length) or streamed (chunked).
    handler = (_body, _req, res) => {
      reply(res, 200, { result: 'ff'.repeat(1000), error: null, id: 1 });
    };
    await failure(client.blocks.getBlockHex('00'.repeat(32)), 'too_large');
    handler = (_body, _req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"error":null,"result":"');
      res.write('ff'.repeat(1000));
      res.end('"}');
    };
    await failure(client.blocks.getBlockHex('00'.repeat(32)), 'too_large');
    handler = () => undefined;
    await failure(client.blocks.getBlockCount(), 'timeout');
    const nowhere = createBitcoinRpc({ url: 'http://127.0.0.1:1/', timeoutMs: 2000 });
    await failure(nowhere.blocks.getBlockCount(), 'unreachable');
    client.close();
    await failure(client.blocks.getBlockCount(), 'closed');
    expect(() => createBitcoinRpc({ url: 'http://u:p@127.0.0.1:1/' })).toThrow(/auth option/);
  });
});
