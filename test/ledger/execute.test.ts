// Execution of ordered batches: identity, signature, freshness and replay checks with stable
// codes, the built-in apps, and determinism (two nodes, same batches, same bytes).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import { builtInApps, accountOf, type App } from '../../src/contracts/index.js';
import { decodeEcdsaSignature, encodeEcdsaSignature, curveOrder } from '../../src/crypto/index.js';
import {
  executeBatch,
  runCall,
  type Consortium,
  type PreVerified,
  type TxOutcome,
} from '../../src/ledger/execute.js';
import { openAppHost } from '../../src/contracts/index.js';
import { cofferError } from '../../src/errors/index.js';
import { createReplayWindow, type ReplayWindow } from '../../src/ledger/replay.js';
import { createStore } from '../../src/ledger/store.js';
import { decodeRequest, envelopeToJson, type Envelope } from '../../src/ledger/tx.js';
import { revokeCertificate } from '../../src/msp/cryptogen/index.js';
import { twoOrgs, type Member, type TwoOrgs } from '../support/two-orgs.js';

let orgs: TwoOrgs;
let consortium: Consortium;
const t0 = 1_800_000_000_000;

beforeAll(async () => {
  orgs = await twoOrgs('coffer-exec-', 2);
  consortium = await orgs.loadConsortium();
});

afterAll(async () => {
  await orgs.remove();
});

const member = (name: string): Member => orgs.member(name);

async function envelope(
  who: string,
  app: string,
  action: string,
  args: Record<string, unknown>,
  extra: { now?: number; ttlMs?: number; sendCert?: boolean } = {},
): Promise<Envelope> {
  const m = member(who);
  const signed = await signEnvelope({
    app,
    action,
    args,
    identity: m.identity,
    signer: m.signer,
    now: extra.now ?? t0,
    ...extra,
  });
  return signed.envelope;
}

type Node = {
  store: ReturnType<typeof createStore>;
  replay: ReplayWindow;
  seqno: number;
  time: number;
};

function newNode(): Node {
  return { store: createStore(), replay: createReplayWindow(), seqno: 1, time: 0 };
}

async function run(
  node: Node,
  envelopes: readonly unknown[],
  time = t0,
  options: {
    preVerified?: Map<string, PreVerified>;
    apps?: Map<string, App>;
    consortium?: Consortium;
  } = {},
): Promise<TxOutcome[]> {
  const output = await executeBatch({
    store: node.store,
    replay: node.replay,
    batch: {
      time,
      envelopes: envelopes.map((item) => (isEnvelope(item) ? envelopeToJson(item) : item)),
    },
    firstSeqno: node.seqno,
    previousTime: node.time,
    consortium: options.consortium ?? consortium,
    apps: options.apps ?? builtInApps(),
    preVerified: options.preVerified ?? new Map(),
  });
  node.seqno += output.outcomes.length;
  node.time = output.time;
  return [...output.outcomes];
}

function isEnvelope(value: unknown): value is Envelope {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { request?: unknown }).request instanceof Uint8Array
  );
}

function codes(outcomes: readonly TxOutcome[]): (string | undefined)[] {
  return outcomes.map((outcome) => outcome.code ?? outcome.status);
}

describe('executeBatch: checks, each refused with its stable code', () => {
  it('commits a signed kv put and records the signer', async () => {
    const node = newNode();
    const [outcome] = await run(node, [
      await envelope('Org1.User1', 'kv', 'put', { map: 'public:kv.demo', key: 'a', value: '1' }),
    ]);
    expect(outcome?.status).toBe('committed');
    expect(outcome?.signer).toEqual({
      mspId: 'Org1MSP',
      identityId: member('Org1.User1').identityId,
    });
    expect(node.store.read('public:kv.demo', 'a')).toBe('1');
    expect(outcome?.seqno).toBe(1);
    // Its result's members come in RFC 8785 order, so the ledger entry encodes natively.
    expect(outcome?.result).toEqual({ created: true, key: 'a', map: 'public:kv.demo' });
    expect(Object.keys(outcome?.result ?? {})).toEqual(['created', 'key', 'map']);
  });

  it('refuses a tampered signature, a high-S signature, and garbage', async () => {
    const node = newNode();
    const good = await envelope('Org1.User1', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' });
    const flipped = {
      ...good,
      signature: Buffer.from(good.signature).map((b, i) => (i === 10 ? b ^ 1 : b)),
    };
    const order = curveOrder('P-256') ?? 0n;
    const low = decodeEcdsaSignature(good.signature);
    const highS = { ...good, signature: encodeEcdsaSignature({ r: low.r, s: order - low.s }) };
    expect(codes(await run(node, [flipped, highS, { request: 'AAAA', signature: '!!' }]))).toEqual([
      'MSP_E_SIGNATURE_INVALID',
      'MSP_E_SIGNATURE_HIGH_S',
      'TX_E_MALFORMED',
    ]);
    // A bad signature does not burn the request: the genuine one still commits.
    expect(codes(await run(node, [good]))).toEqual(['committed']);
  });

  it("refuses a request larger than the consortium's settings allow (TX_E_TOO_LARGE), the same on every node", async () => {
    const small = await envelope('Org1.User1', 'kv', 'put', {
      map: 'public:kv.demo',
      key: 'small',
      value: 'x',
    });
    const large = await envelope('Org1.User1', 'kv', 'put', {
      map: 'public:kv.demo',
      key: 'large',
      value: 'x'.repeat(5000),
    });
    const limited = { ...consortium, requestBytesMax: 4096 };
    expect(codes(await run(newNode(), [small, large], t0, { consortium: limited }))).toEqual([
      'committed',
      'TX_E_TOO_LARGE',
    ]);
    // Without the setting the ledger's own limit (64 KiB) applies.
    expect(codes(await run(newNode(), [large]))).toEqual(['committed']);
  });

  it('refuses replays in the same batch and in a later one', async () => {
    const node = newNode();
    const once = await envelope('Org1.User1', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' });
    expect(codes(await run(node, [once, once]))).toEqual(['committed', 'TX_E_REPLAY']);
    expect(codes(await run(node, [once], t0 + 1000))).toEqual(['TX_E_REPLAY']);
  });

  it('refuses expired requests and expiries too far ahead', async () => {
    const node = newNode();
    const stale = await envelope(
      'Org1.User1',
      'kv',
      'put',
      { map: 'kv.x', key: 'k', value: 'v' },
      { now: t0 - 120_000, ttlMs: 60_000 },
    );
    const far = await envelope(
      'Org1.User1',
      'kv',
      'put',
      { map: 'kv.x', key: 'k', value: 'v' },
      { now: t0 + 300_000 },
    );
    expect(codes(await run(node, [stale, far]))).toEqual(['TX_E_EXPIRED', 'TX_E_EXPIRY_TOO_FAR']);
  });

  it('refuses an unknown MSP, a certificate that does not match, and an unknown certificate', async () => {
    const node = newNode();
    const m = member('Org1.User1');
    const other = member('Org2.User1');
    const unknownMsp = await signEnvelope({
      app: 'kv',
      action: 'put',
      args: { map: 'kv.x', key: 'k', value: 'v' },
      identity: { ...m.identity, mspId: 'Org9MSP' },
      signer: m.signer,
      now: t0,
    });
    const mismatch = {
      ...(await envelope('Org1.User1', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' })),
      cert: other.identity.certPem,
    };
    const noCert = await envelope(
      'Org1.User2',
      'kv',
      'put',
      { map: 'kv.x', key: 'k', value: 'v' },
      { sendCert: false },
    );
    expect(codes(await run(node, [unknownMsp.envelope, mismatch, noCert]))).toEqual([
      'TX_E_UNKNOWN_MSP',
      'TX_E_CERT_MISMATCH',
      'TX_E_UNKNOWN_CERT',
    ]);
    // Once a committed transaction carried the certificate, later ones may omit it.
    await run(node, [
      await envelope('Org1.User2', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' }),
    ]);
    const later = await envelope(
      'Org1.User2',
      'kv',
      'put',
      { map: 'kv.x', key: 'k2', value: 'v' },
      { sendCert: false },
    );
    expect(codes(await run(node, [later]))).toEqual(['committed']);
  });

  it('refuses a revoked identity once the consortium holds the new CRL', async () => {
    const node = newNode();
    const before = await envelope('Org2.User2', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' });
    expect(codes(await run(node, [before]))).toEqual(['committed']);
    const previous = consortium;
    await revokeCertificate({
      orgDir: orgs.orgDir(2),
      certPem: member('Org2.User2').identity.certPem,
    });
    consortium = await orgs.loadConsortium();
    try {
      const after = await envelope('Org2.User2', 'kv', 'put', {
        map: 'kv.x',
        key: 'k',
        value: 'w',
      });
      expect(codes(await run(node, [after]))).toEqual(['MSP_E_IDENTITY_REVOKED']);
    } finally {
      consortium = previous;
    }
  });

  it('records malformed and non-canonical requests as invalid without stopping the batch', async () => {
    const node = newNode();
    const good = await envelope('Org1.User1', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' });
    const json = JSON.parse(Buffer.from(good.request).toString()) as Record<string, unknown>;
    const spaced = Buffer.from(JSON.stringify(json, null, 1));
    const notCanonical = { ...good, request: new Uint8Array(spaced) };
    const outcomes = await run(node, [{ nonsense: true }, notCanonical, good]);
    expect(codes(outcomes)).toEqual(['TX_E_MALFORMED', 'TX_E_MALFORMED', 'committed']);
    expect(outcomes[0]?.txId).toBeNull();
    expect(outcomes.map((o) => o.seqno)).toEqual([1, 2, 3]);
  });

  it('skips the signature check only for the signature this node already verified', async () => {
    const good = await envelope('Org1.User1', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' });
    const bad = {
      ...good,
      signature: Buffer.from(good.signature).map((b, i) => (i === 12 ? b ^ 1 : b)),
    };
    const { transactionId } = await import('../../src/ledger/tx.js');
    const arrived = (signature: Uint8Array): Map<string, PreVerified> =>
      new Map([[transactionId(good.request), { request: decodeRequest(good.request), signature }]]);
    expect(codes(await run(newNode(), [bad]))).toEqual(['MSP_E_SIGNATURE_INVALID']);
    // The same request arrived with its good signature; the log holds another one (a faulty
    // node's): it is verified, as every other node verifies it.
    expect(
      codes(await run(newNode(), [bad], t0, { preVerified: arrived(good.signature) })),
    ).toEqual(['MSP_E_SIGNATURE_INVALID']);
    // The node only puts signatures in preVerified after checking them; here we pretend it
    // did, to see that the check is skipped for exactly that signature.
    expect(codes(await run(newNode(), [bad], t0, { preVerified: arrived(bad.signature) }))).toEqual(
      ['committed'],
    );
  });

  it('an app that touches a map it does not own fails the transaction, keeping no writes', async () => {
    const rogue: App = {
      name: 'rogue',
      version: '0',
      summary: 'test app',
      actions: {
        steal: {
          summary: '',
          args: {},
          run: (context) => {
            context.kv.put('rogue.ok', 'a', '1');
            context.kv.put('token.balances', 'x', '1');
          },
        },
      },
      queries: {},
    };
    const node = newNode();
    const apps = new Map([...builtInApps(), ['rogue', rogue]]);
    const outcomes = await run(node, [await envelope('Org1.User1', 'rogue', 'steal', {})], t0, {
      apps,
    });
    expect(codes(outcomes)).toEqual(['APP_E_FAILED']);
    expect(node.store.read('rogue.ok', 'a')).toBeUndefined();
    expect(codes(await run(node, [await envelope('Org1.User1', 'nope', 'x', {})]))).toEqual([
      'TX_E_UNKNOWN_APP',
    ]);
  });
});

describe('asynchronous actions (decision 0025)', () => {
  const later = () => new Promise((resolve) => setTimeout(resolve, 5));
  const slow: App = {
    name: 'slow',
    version: '0',
    summary: 'test app with asynchronous actions',
    actions: {
      put: {
        summary: '',
        args: {},
        run: async (context, args) => {
          await later();
          context.kv.put('slow.m', String(args['key']), String(args['value']));
          return { wrote: args['key'] };
        },
      },
      read: {
        summary: '',
        args: {},
        run: (context, args) => ({ value: context.kv.get('slow.m', String(args['key'])) ?? null }),
      },
      fail: {
        summary: '',
        args: {},
        run: async (context) => {
          context.kv.put('slow.m', 'failed', 'yes');
          await later();
          throw cofferError('APP_E_INVALID_ARGS', 'refused after a while');
        },
      },
      relay: {
        summary: '',
        args: {},
        run: (context) => context.invoke?.('slow', 'put', { key: 'x', value: '1' }, 'test'),
      },
    },
    queries: {},
  };
  const apps = () => new Map([...builtInApps(), ['slow', slow]]);

  it('are awaited in their place: the next transaction sees their writes, a rejection keeps none', async () => {
    const node = newNode();
    const outcomes = await run(
      node,
      [
        await envelope('Org1.User1', 'slow', 'put', { key: 'a', value: '1' }),
        await envelope('Org1.User1', 'slow', 'read', { key: 'a' }),
        await envelope('Org1.User1', 'slow', 'fail', {}),
        await envelope('Org1.User1', 'slow', 'read', { key: 'failed' }),
        await envelope('Org1.User1', 'slow', 'relay', {}),
      ],
      t0,
      { apps: apps() },
    );
    expect(codes(outcomes)).toEqual([
      'committed',
      'committed',
      'APP_E_INVALID_ARGS',
      'committed',
      'APP_E_FAILED',
    ]);
    expect(outcomes.map((outcome) => outcome.result ?? null)).toEqual([
      { wrote: 'a' },
      { value: '1' },
      null,
      { value: null },
      null,
    ]);
    expect(outcomes.map((outcome) => outcome.seqno)).toEqual([1, 2, 3, 4, 5]);
    expect(node.store.read('slow.m', 'x')).toBeUndefined();
  });

  it('are refused by runCall (the local harness is synchronous)', () => {
    const store = createStore();
    const host = openAppHost(apps(), 'execution');
    try {
      expect(() =>
        runCall(store, host, {
          app: 'slow',
          action: 'put',
          args: { key: 'k', value: 'v' },
          caller: { mspId: 'Org1MSP', identityId: 'ab'.repeat(32), role: 'client', isAdmin: false },
          txId: 'cd'.repeat(32),
          time: t0,
        }),
      ).toThrow(/asynchronous: it runs only in batch execution/);
    } finally {
      host.close();
    }
  });
});

describe('token app', () => {
  it('admins mint, clients cannot, holders transfer, and balances add up', async () => {
    const node = newNode();
    const alice = accountOf('Org1MSP', member('Org1.User1').identityId);
    const bob = accountOf('Org2MSP', member('Org2.User1').identityId);
    const outcomes = await run(node, [
      await envelope('Org1.Admin', 'token', 'mint', { symbol: 'CFR', to: alice, amount: '1000' }),
      await envelope('Org1.User1', 'token', 'mint', { symbol: 'CFR', to: alice, amount: '5' }),
      await envelope('Org1.User1', 'token', 'transfer', { symbol: 'CFR', to: bob, amount: '400' }),
      await envelope('Org2.User1', 'token', 'transfer', {
        symbol: 'CFR',
        to: alice,
        amount: '401',
      }),
      await envelope('Org1.User1', 'token', 'transfer', { symbol: 'CFR', to: bob, amount: '-1' }),
    ]);
    expect(codes(outcomes)).toEqual([
      'committed',
      'APP_E_FORBIDDEN',
      'committed',
      'TOKEN_E_INSUFFICIENT_FUNDS',
      'APP_E_INVALID_ARGS',
    ]);
    const query = builtInApps().get('token')?.queries;
    const kv = { get: (map: string, key: string) => node.store.read(map, key) };
    expect(
      query?.['balance']?.run({ caller: undefined, kv }, { symbol: 'CFR', account: alice }),
    ).toMatchObject({ balance: '600' });
    expect(
      query?.['balance']?.run({ caller: undefined, kv }, { symbol: 'CFR', account: bob }),
    ).toMatchObject({ balance: '400' });
    expect(query?.['supply']?.run({ caller: undefined, kv }, { symbol: 'CFR' })).toMatchObject({
      supply: '1000',
    });
  });
});

describe('determinism', () => {
  it('two nodes executing the same batches reach identical outcomes and write sets', async () => {
    const a = newNode();
    const b = newNode();
    const batches: unknown[][] = [];
    const alice = accountOf('Org1MSP', member('Org1.User1').identityId);
    batches.push([
      await envelope('Org1.Admin', 'token', 'mint', { symbol: 'CFR', to: alice, amount: '10' }),
      await envelope('Org1.User1', 'kv', 'put', { map: 'public:kv.d', key: 'k', value: 'v' }),
      { junk: 1 },
    ]);
    batches.push([
      await envelope('Org2.User1', 'token', 'transfer', { symbol: 'CFR', to: alice, amount: '1' }),
    ]);
    const outA: TxOutcome[][] = [];
    const outB: TxOutcome[][] = [];
    for (const [i, batch] of batches.entries()) {
      outA.push(await run(a, batch, t0 + i));
      outB.push(await run(b, batch, t0 + i));
    }
    // The mint and the put commit; the junk and a transfer without funds are invalid.
    expect(outA.flat().map((outcome) => outcome.code ?? outcome.status)).toEqual([
      'committed',
      'committed',
      'TX_E_MALFORMED',
      'TOKEN_E_INSUFFICIENT_FUNDS',
    ]);
    expect(JSON.stringify(outA)).toBe(JSON.stringify(outB));
    expect(JSON.stringify(a.replay.entries())).toBe(JSON.stringify(b.replay.entries()));
  });

  it('batch time never goes backwards', async () => {
    const node = newNode();
    await run(node, [], t0 + 5000);
    await run(
      node,
      [await envelope('Org1.User1', 'kv', 'put', { map: 'kv.x', key: 'k', value: 'v' })],
      t0,
    );
    expect(node.time).toBe(t0 + 5000);
  });
});
