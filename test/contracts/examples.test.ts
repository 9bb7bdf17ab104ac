// The example apps under examples/, built with `coffer app build` (the CLI, and buildApp) and
// run in the local harness: the exchange-rate trade sold by an oracle trigger, and bills of
// lading passed from carrier to consignee.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAppHarness, type HarnessOutcome } from '../../src/contracts/harness.js';
import { buildApp } from '../../src/contracts/sandbox/build.js';
import type { Bundle } from '../../src/contracts/index.js';
import { runCoffer } from '../cli/run.js';

const examples = path.resolve(import.meta.dirname, '../../examples');
const t0 = 1_800_000_000_000;
let out: string;

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'coffer-app-build-'));
});

afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

function result(outcome: HarnessOutcome | undefined): unknown {
  if (outcome?.status !== 'committed') throw new Error(JSON.stringify(outcome));
  return outcome.result;
}

const codeOf = (outcome: HarnessOutcome | undefined): unknown =>
  outcome?.status === 'invalid' ? outcome.code : 'committed';

describe('coffer app build', () => {
  it('builds each example into a bundle that buildApp reproduces byte for byte', async () => {
    for (const name of ['fx-trade', 'shipments']) {
      const file = path.join(out, `${name}.json`);
      const run = await runCoffer([
        'app',
        'build',
        path.join(examples, name),
        '--out',
        file,
        '--json',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ name, version: '1.0.0', out: file });
      const built = JSON.parse(await readFile(file, 'utf8')) as Bundle;
      expect(built).toEqual(await buildApp(path.join(examples, name)));
      expect(built.code).not.toContain('require("fs")');
    }
  });

  it('refuses a project whose manifest or code is broken, naming the problem', async () => {
    const missing = await runCoffer(['app', 'build', out]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/APP_E_BUNDLE_INVALID: .*app.json cannot be read/);
  });
});

describe('example: fx-trade', () => {
  it('sells a trade when the published rate leaves its band', async () => {
    const h = createAppHarness({ startTime: t0 });
    expect(result(h.install(await buildApp(path.join(examples, 'fx-trade'))))).toMatchObject({
      name: 'fx-trade',
    });
    const bot = h.caller('Org3MSP', 'peer', 'rates');
    result(
      h.call({
        app: 'oracles',
        action: 'register',
        args: { feed: 'fx.EURUSD', publishers: [`Org3MSP:${bot.identityId}`] },
        caller: h.caller('Org3MSP', 'admin'),
      }),
    );
    const publish = (value: number, at: number) =>
      h.call(
        {
          app: 'oracles',
          action: 'publish',
          args: { feed: 'fx.EURUSD', value, time: at },
          caller: bot,
        },
        at,
      );
    const trader = h.caller('Org1MSP', 'client');
    const trade = (id: string, low: number, high: number) =>
      h.call({
        app: 'fx-trade',
        action: 'trade',
        args: { id, amount: 1000, low, high },
        caller: trader,
      });

    expect(codeOf(trade('t0', 1.0, 1.2))).toBe('APP_E_REJECTED'); // no rate yet
    result(publish(1.1, h.now()));
    expect(result(trade('t1', 1.05, 1.15))).toMatchObject({ status: 'open', boughtAt: 1.1 });
    expect(result(trade('t2', 1.0, 1.3))).toMatchObject({ status: 'open' });
    expect(
      codeOf(
        h.call({
          app: 'fx-trade',
          action: 'trade',
          args: { id: 't3', amount: 1, low: 1, high: 2 },
          caller: h.caller('Org3MSP', 'client'),
        }),
      ),
    ).toBe('APP_E_FORBIDDEN');
    // Within both bands: nothing sold. Then 1.18 leaves t1's band only.
    expect(result(publish(1.12, h.now()))).toMatchObject({
      triggered: [{ app: 'fx-trade', ok: true, result: { sold: [] } }],
    });
    expect(result(publish(1.18, h.now()))).toMatchObject({
      triggered: [{ ok: true, result: { sold: ['t1'] } }],
    });
    expect(result(h.query('fx-trade', 'get', { id: 't1' }))).toMatchObject({
      status: 'sold',
      soldAt: 1.18,
    });
    expect(result(h.query('fx-trade', 'get', { id: 't2' }))).toMatchObject({ status: 'open' });
    // A stale rate cannot price a new trade.
    expect(
      codeOf(
        h.call(
          {
            app: 'fx-trade',
            action: 'trade',
            args: { id: 't4', amount: 1, low: 1, high: 2 },
            caller: trader,
          },
          h.now() + 120_000,
        ),
      ),
    ).toBe('APP_E_REJECTED');
  });
});

describe('example: shipments', () => {
  it('a bill of lading goes from carrier to shipper to consignee and is delivered once', async () => {
    const h = createAppHarness({ startTime: t0 });
    result(h.install(await buildApp(path.join(examples, 'shipments'))));
    const carrier = h.caller('Org1MSP', 'client', 'carrier');
    const shipper = h.caller('Org2MSP', 'client', 'shipper');
    const consignee = h.caller('Org3MSP', 'client', 'consignee');
    const id = (c: typeof carrier) => `${c.mspId}:${c.identityId}`;
    const issue = {
      bl: 'BL-0001',
      shipper: 'Acme Exports',
      consignee: 'Globex Imports',
      goods: '12 pallets of coffee',
      from: 'Busan',
      to: 'Rotterdam',
    };
    expect(
      codeOf(h.call({ app: 'shipments', action: 'issue', args: issue, caller: shipper })),
    ).toBe('APP_E_FORBIDDEN');
    expect(
      result(h.call({ app: 'shipments', action: 'issue', args: issue, caller: carrier })),
    ).toMatchObject({
      holder: id(carrier),
      status: 'issued',
    });
    result(
      h.call({
        app: 'shipments',
        action: 'endorse',
        args: { bl: 'BL-0001', to: id(shipper) },
        caller: carrier,
      }),
    );
    expect(
      codeOf(
        h.call({
          app: 'shipments',
          action: 'endorse',
          args: { bl: 'BL-0001', to: id(consignee) },
          caller: carrier,
        }),
      ),
    ).toBe('APP_E_REJECTED');
    result(
      h.call({
        app: 'shipments',
        action: 'endorse',
        args: { bl: 'BL-0001', to: id(consignee) },
        caller: shipper,
      }),
    );
    expect(
      result(
        h.call({ app: 'shipments', action: 'deliver', args: { bl: 'BL-0001' }, caller: consignee }),
      ),
    ).toMatchObject({
      status: 'delivered',
    });
    expect(
      codeOf(
        h.call({ app: 'shipments', action: 'deliver', args: { bl: 'BL-0001' }, caller: consignee }),
      ),
    ).toBe('APP_E_REJECTED');
    const bill = result(h.query('shipments', 'get', { bl: 'BL-0001' })) as {
      history: { event: string }[];
    };
    expect(bill.history.map((entry) => entry.event)).toEqual([
      'issued to Acme Exports',
      `endorsed to ${id(shipper)}`,
      `endorsed to ${id(consignee)}`,
      'delivered',
    ]);
    // The bill is public: any member reads the same document from the ledger.
    expect(h.store.read('public:shipments.bills', 'BL-0001')).toContain('"status":"delivered"');
  });
});
