// Oracle feeds: registration by admins, points from allowed publishers only, apps reading the
// latest point and its age, and endpoints triggered when a point arrives.
import { describe, expect, it } from 'vitest';
import { createAppHarness, type HarnessOutcome } from '../../src/contracts/harness.js';
import { bundle } from './helpers.js';

const t0 = 1_800_000_000_000;

function setup() {
  const h = createAppHarness({ startTime: t0 });
  const admin = h.caller('Org1MSP', 'admin');
  const publisher = h.caller('Org2MSP', 'peer', 'rates-bot');
  const register = h.call({
    app: 'oracles',
    action: 'register',
    args: { feed: 'fx.EURUSD', publishers: [`Org2MSP:${publisher.identityId}`] },
    caller: admin,
  });
  expect(register.status).toBe('committed');
  return { h, admin, publisher };
}

const publish = (
  h: ReturnType<typeof createAppHarness>,
  who: ReturnType<ReturnType<typeof createAppHarness>['caller']>,
  value: unknown,
  time: number,
): HarnessOutcome =>
  h.call(
    { app: 'oracles', action: 'publish', args: { feed: 'fx.EURUSD', value, time }, caller: who },
    time + 50,
  );

const code = (outcome: HarnessOutcome | undefined) =>
  outcome?.status === 'invalid' ? outcome.code : 'committed';

describe('oracle feeds', () => {
  it('accepts points from allowed publishers only', () => {
    const { h, publisher } = setup();
    expect(code(publish(h, publisher, 1.0842, t0 + 1000))).toBe('committed');
    // Same MSP and role, another identity: refused. An admin is no publisher either.
    expect(code(publish(h, h.caller('Org2MSP', 'peer', 'other-bot'), 2, t0 + 2000))).toBe(
      'ORACLE_E_PUBLISHER_FORBIDDEN',
    );
    expect(code(publish(h, h.caller('Org1MSP', 'admin'), 2, t0 + 2000))).toBe(
      'ORACLE_E_PUBLISHER_FORBIDDEN',
    );
    const latest = h.query('oracles', 'latest', { feed: 'fx.EURUSD' });
    expect(latest).toMatchObject({
      status: 'committed',
      result: { value: 1.0842, time: t0 + 1000, seq: 1 },
    });
  });

  it('refuses unknown feeds, old or future points, registration by non-admins and other MSPs', () => {
    const { h, publisher } = setup();
    expect(code(publish(h, publisher, 1, t0 + 1000))).toBe('committed');
    expect(code(publish(h, publisher, 1, t0 + 1000))).toBe('ORACLE_E_POINT_INVALID');
    expect(
      code(
        h.call({
          app: 'oracles',
          action: 'publish',
          args: { feed: 'fx.EURUSD', value: 1, time: t0 + 9e9 },
          caller: publisher,
        }),
      ),
    ).toBe('ORACLE_E_POINT_INVALID');
    expect(
      code(
        h.call({
          app: 'oracles',
          action: 'publish',
          args: { feed: 'fx.GBPUSD', value: 1, time: t0 },
          caller: publisher,
        }),
      ),
    ).toBe('ORACLE_E_UNKNOWN_FEED');
    const args = { feed: 'fx.EURUSD', publishers: [`Org2MSP:${publisher.identityId}`] };
    expect(
      code(
        h.call({ app: 'oracles', action: 'register', args, caller: h.caller('Org1MSP', 'client') }),
      ),
    ).toBe('APP_E_FORBIDDEN');
    expect(
      code(
        h.call({ app: 'oracles', action: 'register', args, caller: h.caller('Org2MSP', 'admin') }),
      ),
    ).toBe('ORACLE_E_FEED_OWNED');
  });

  it('apps read the latest point and its age, and triggered endpoints run with the point', () => {
    const { h, publisher } = setup();
    const app = `const app = require('@coffer/app');
      exports.onRate = (args) => { app.map('seen').putJson(String(args.point.seq), args.point.value); return { seq: args.point.seq }; };
      exports.rate = () => { const p = app.oracle('fx.EURUSD'); return p === undefined ? null : { value: p.value, ageMs: p.ageMs }; };`;
    const installed = h.install(
      bundle(app, {
        onRate: {
          mode: 'readwrite',
          auth: { kind: 'oracle', feed: 'fx.EURUSD' },
          input: { type: 'object' },
          output: {},
        },
        rate: { mode: 'readwrite', auth: { kind: 'any' }, input: { type: 'object' }, output: {} },
      }),
    );
    expect(installed.status).toBe('committed');
    const point = publish(h, publisher, 1.1, t0 + 1000);
    expect(point).toMatchObject({
      status: 'committed',
      result: {
        seq: 1,
        triggered: [{ app: 'demo', endpoint: 'onRate', ok: true, result: { seq: 1 } }],
      },
    });
    expect(h.store.read('demo.seen', '1')).toBe('1.1');
    const read = h.call({ app: 'demo', action: 'rate', caller: h.caller('Org3MSP') }, t0 + 4000);
    expect(read).toMatchObject({ status: 'committed', result: { value: 1.1, ageMs: 3000 } });
  });

  it('a failing trigger does not stop the point, and its writes are dropped', () => {
    const { h, publisher } = setup();
    const app = `const app = require('@coffer/app');
      exports.onRate = (args) => { app.map('seen').put('x', 'y'); if (args.point.value > 2) app.fail('BAND', 'out of band'); return 'ok'; };`;
    h.install(
      bundle(app, {
        onRate: {
          mode: 'readwrite',
          auth: { kind: 'oracle', feed: 'fx.EURUSD' },
          input: { type: 'object' },
          output: {},
        },
      }),
    );
    const point = publish(h, publisher, 3, t0 + 1000);
    expect(point).toMatchObject({
      status: 'committed',
      result: { triggered: [{ app: 'demo', ok: false, code: 'APP_E_REJECTED' }] },
    });
    expect(h.store.read('demo.seen', 'x')).toBeUndefined();
    expect(h.store.read('public:oracles.points', 'fx.EURUSD')).toContain('"seq":1');
  });
});
