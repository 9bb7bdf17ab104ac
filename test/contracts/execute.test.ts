// Sandboxed apps inside executeBatch, with real MSP identities and signed envelopes: install by
// an admin, calls from every organisation, and determinism — the same batches executed on two
// fresh nodes give byte-identical outcomes and write sets, runaway calls included.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { endorseEnvelope, signEnvelope } from '../../src/client/envelope.js';
import { builtInApps } from '../../src/contracts/index.js';
import { executeBatch, type Consortium, type TxOutcome } from '../../src/ledger/execute.js';
import { createReplayWindow } from '../../src/ledger/replay.js';
import { createStore } from '../../src/ledger/store.js';
import { envelopeToJson, transactionId } from '../../src/ledger/tx.js';
import { bundle, rw } from './helpers.js';
import { twoOrgs, type TwoOrgs } from '../support/two-orgs.js';

let orgs: TwoOrgs;
let consortium: Consortium;
const t0 = 1_800_000_000_000;

beforeAll(async () => {
  orgs = await twoOrgs('coffer-apps-exec-', 1);
  consortium = await orgs.loadConsortium();
});

afterAll(async () => {
  await orgs.remove();
});

async function envelope(
  who: string,
  app: string,
  action: string,
  args: Record<string, unknown>,
  nonce: number,
) {
  const { identity, signer } = orgs.member(who);
  const signed = await signEnvelope({ app, action, args, identity, signer, now: t0 + nonce });
  return envelopeToJson(signed.envelope);
}

function newNode() {
  const node = { store: createStore(), replay: createReplayWindow(), seqno: 1, time: 0 };
  const run = async (envelopes: unknown[], time: number): Promise<TxOutcome[]> => {
    const output = await executeBatch({
      store: node.store,
      replay: node.replay,
      batch: { time, envelopes },
      firstSeqno: node.seqno,
      previousTime: node.time,
      consortium,
      apps: builtInApps(),
      preVerified: new Map(),
    });
    node.seqno += output.outcomes.length;
    node.time = output.time;
    return [...output.outcomes];
  };
  return { ...node, run };
}

const appCode = `const app = require('@coffer/app');
  exports.bump = (args) => {
    const m = app.map('n');
    const next = Number(m.get(args.k) ?? '0') + 1;
    m.put(args.k, String(next));
    app.publicMap('who').putJson(args.k, { by: app.caller().mspId, at: app.time(), r: Math.random() });
    return { next, r: app.random() };
  };
  exports.spin = () => { app.map('n').put('spin', 'x'); let i = 0; for (;;) i++; };
  exports.grab = () => { const a = []; for (;;) a.push(new Array(1000).fill(7)); };`;

describe('sandboxed apps in executeBatch', () => {
  it('installs by an admin only, then every organisation calls; two nodes agree byte for byte', async () => {
    const appBundle = bundle(appCode, {
      bump: rw({
        input: { type: 'object', required: ['k'], properties: { k: { type: 'string' } } },
      }),
      spin: rw(),
      grab: rw(),
    });
    const batches: [unknown[], number][] = [
      [
        [
          await envelope('Org1.User1', 'apps', 'install', { bundle: appBundle }, 1),
          await envelope('Org2.Admin', 'apps', 'install', { bundle: appBundle }, 2),
          await envelope('Org1.User1', 'demo', 'bump', { k: 'a' }, 3),
        ],
        t0 + 10,
      ],
      [
        [
          await envelope('Org1.User1', 'demo', 'bump', { k: 'a' }, 4),
          await envelope('Org2.User1', 'demo', 'spin', {}, 5),
          await envelope('Org2.User1', 'demo', 'bump', { k: 'a' }, 6),
          await envelope('Org1.User1', 'demo', 'grab', {}, 7),
          await envelope('Org2.User1', 'demo', 'bump', { k: 'b' }, 8),
          await envelope('Org2.User1', 'demo', 'bump', {}, 9),
        ],
        t0 + 20,
      ],
    ];
    const nodeA = newNode();
    const nodeB = newNode();
    const runAll = async (node: ReturnType<typeof newNode>) => {
      const outcomes: TxOutcome[] = [];
      for (const [envelopes, time] of batches) outcomes.push(...(await node.run(envelopes, time)));
      return outcomes;
    };
    const outcomesA = await runAll(nodeA);
    const outcomesB = await runAll(nodeB);
    expect(outcomesA.map((outcome) => outcome.code ?? outcome.status)).toEqual([
      'APP_E_FORBIDDEN',
      'committed',
      'committed',
      'committed',
      'APP_E_CPU_LIMIT',
      'committed',
      'APP_E_MEMORY_LIMIT',
      'committed',
      'APP_E_INVALID_ARGS',
    ]);
    expect(outcomesA[5]?.result).toMatchObject({ next: 3 });
    expect(nodeA.store.read('demo.n', 'spin')).toBeUndefined();
    // Byte-identical outcomes: results, messages and write sets.
    expect(JSON.stringify(outcomesB)).toBe(JSON.stringify(outcomesA));
    expect(nodeB.store.read('public:demo.who', 'a')).toBe(nodeA.store.read('public:demo.who', 'a'));
  });

  it('runs the version installed at the transaction position', async () => {
    const v1 = bundle(appCode, { bump: rw() });
    const v2 = bundle(appCode.replace('+ 1;', '+ 100;'), { bump: rw() }, { version: '2.0.0' });
    const node = newNode();
    const outcomes = await node.run(
      [
        await envelope('Org1.Admin', 'apps', 'install', { bundle: v1 }, 11),
        await envelope('Org1.User1', 'demo', 'bump', { k: 'a' }, 12),
        await envelope('Org2.Admin', 'apps', 'install', { bundle: v2 }, 13),
        await envelope('Org1.User1', 'demo', 'bump', { k: 'a' }, 14),
      ],
      t0 + 30,
    );
    expect(outcomes.map((outcome) => outcome.result)).toMatchObject([
      { version: '1.0.0' },
      { next: 1 },
      { version: '2.0.0', previousVersion: '1.0.0' },
      { next: 101 },
    ]);
  });
  it('a policy over several signers: the submitter and the identities that endorsed the request', async () => {
    const twoAdmins = bundle(appCode, {
      bump: rw({ auth: { kind: 'policy', policy: "AND('Org1MSP.admin', 'Org2MSP.admin')" } }),
    });
    const signed = async (
      who: string,
      nonce: number,
      endorsers: readonly string[],
      args: Record<string, unknown> = { k: 'x' },
    ) => {
      const { identity, signer } = orgs.member(who);
      let { envelope: built } = await signEnvelope({
        app: 'demo',
        action: 'bump',
        args,
        identity,
        signer,
        now: t0 + nonce,
      });
      for (const name of endorsers) {
        const endorser = orgs.member(name);
        built = await endorseEnvelope(built, endorser.identity, endorser.signer);
      }
      return built;
    };
    const alone = await signed('Org1.Admin', 21, []);
    const both = await signed('Org1.Admin', 22, ['Org2.Admin']);
    const wrongRole = await signed('Org1.Admin', 23, ['Org2.User1']);
    const twice = await signed('Org1.Admin', 24, ['Org1.Admin']);
    // An endorsement made over other request bytes.
    const forged = await signed('Org1.Admin', 25, []);
    const [elsewhere] =
      (await signed('Org1.Admin', 26, ['Org2.Admin'], { k: 'y' })).endorsements ?? [];
    if (elsewhere === undefined) throw new Error('no endorsement');
    const node = newNode();
    const outcomes = await node.run(
      [
        await envelope('Org1.Admin', 'apps', 'install', { bundle: twoAdmins }, 20),
        envelopeToJson(alone),
        envelopeToJson(both),
        envelopeToJson(wrongRole),
        envelopeToJson(twice),
        envelopeToJson({ ...forged, endorsements: [elsewhere] }),
      ],
      t0 + 40,
    );
    expect(outcomes.map((outcome) => outcome.code ?? outcome.status)).toEqual([
      'committed',
      'APP_E_FORBIDDEN',
      'committed',
      'APP_E_FORBIDDEN',
      'TX_E_ENDORSEMENT_INVALID',
      'TX_E_ENDORSEMENT_INVALID',
    ]);
    // Endorsements do not change the transaction id: it is the hash of the request bytes.
    expect(outcomes[2]?.txId).toBe(transactionId(both.request));
    expect(outcomes[2]?.result).toMatchObject({ next: 1 });
  });
});
