// Sandboxed apps through the local harness (the same runCall path as execution): deploy, call,
// upgrade, auth policies, limits, malformed bundles, readonly endpoints and schemas.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createAppHarness, type HarnessOutcome } from '../../src/contracts/harness.js';
import { bundle, rw, type Endpoints } from './helpers.js';

const counterCode = `
const app = require('@coffer/app');
exports.add = (args) => {
  const m = app.map('counts');
  const next = Number(m.get(args.key) ?? '0') + args.by;
  m.put(args.key, String(next));
  app.publicMap('log').put(app.txId(), args.key);
  return { key: args.key, value: next, caller: app.caller().mspId };
};
exports.get = (args) => ({ key: args.key, value: Number(app.map('counts').get(args.key) ?? '0') });
exports.sneaky = (args) => { app.map('counts').put(args.key, '999'); return null; };
`;

const counterEndpoints: Endpoints = {
  add: rw({
    input: {
      type: 'object',
      required: ['key', 'by'],
      properties: { key: { type: 'string' }, by: { type: 'integer' } },
      additionalProperties: false,
    },
    output: { type: 'object', required: ['value'] },
  }),
  get: rw({ mode: 'readonly' }),
  sneaky: rw({ mode: 'readonly' }),
};

function committed(outcome: HarnessOutcome | undefined): unknown {
  if (outcome?.status !== 'committed') {
    throw new Error(`expected committed, got ${JSON.stringify(outcome)}`);
  }
  return outcome.result;
}

function code(outcome: HarnessOutcome | undefined): string {
  return outcome?.status === 'invalid' ? outcome.code : `committed ${JSON.stringify(outcome)}`;
}

describe('sandboxed apps: deploy, call, upgrade', () => {
  it('installs a bundle, runs its endpoints as transactions and queries', () => {
    const h = createAppHarness();
    const installed = committed(h.install(bundle(counterCode, counterEndpoints)));
    expect(installed).toMatchObject({ name: 'demo', version: '1.0.0', previousVersion: null });
    const user = h.caller('Org2MSP', 'client');
    const add = (by: number) =>
      h.call({ app: 'demo', action: 'add', args: { key: 'a', by }, caller: user });
    expect(committed(add(2))).toEqual({ key: 'a', value: 2, caller: 'Org2MSP' });
    expect(committed(add(3))).toEqual({ key: 'a', value: 5, caller: 'Org2MSP' });
    expect(h.store.read('demo.counts', 'a')).toBe('5');
    expect(committed(h.query('demo', 'get', { key: 'a' }, user))).toEqual({ key: 'a', value: 5 });
    // Readwrite endpoints are not queries.
    expect(code(h.query('demo', 'add', { key: 'a', by: 1 }, user))).toBe('TX_E_UNKNOWN_APP');
    expect(code(h.call({ app: 'demo', action: 'nope', caller: user }))).toBe('TX_E_UNKNOWN_APP');
  });

  it('upgrades only to a higher version, and the new code runs from the next transaction', () => {
    const h = createAppHarness();
    committed(h.install(bundle(counterCode, counterEndpoints)));
    const v2 = bundle(counterCode.replace('+ args.by', '+ 10 * args.by'), counterEndpoints, {
      version: '1.1.0',
    });
    expect(code(h.install(bundle(counterCode, counterEndpoints)))).toBe('APP_E_VERSION_NOT_NEWER');
    expect(
      code(h.install({ ...v2, manifest: { ...(v2['manifest'] as object), version: '0.9.9' } })),
    ).toBe('APP_E_VERSION_NOT_NEWER');
    const user = h.caller('Org1MSP', 'client');
    const [upgrade, after] = h.batch([
      {
        app: 'apps',
        action: 'install',
        args: { bundle: v2 },
        caller: h.caller('Org2MSP', 'admin'),
      },
      { app: 'demo', action: 'add', args: { key: 'k', by: 1 }, caller: user },
    ]);
    expect(committed(upgrade)).toMatchObject({ version: '1.1.0', previousVersion: '1.0.0' });
    expect(committed(after)).toMatchObject({ value: 10 });
    expect(committed(h.query('apps', 'get', { name: 'demo' }))).toMatchObject({ version: '1.1.0' });
  });

  it('refuses installs by non-admins and reserved names', () => {
    const h = createAppHarness();
    expect(
      code(h.install(bundle(counterCode, counterEndpoints), h.caller('Org1MSP', 'client'))),
    ).toBe('APP_E_FORBIDDEN');
    expect(code(h.install(bundle(counterCode, counterEndpoints, { name: 'token' })))).toBe(
      'APP_E_NAME_RESERVED',
    );
  });
});

describe('auth policies per endpoint', () => {
  const authCode = 'exports.ping = () => "pong"; exports.tick = () => "tock";';
  const withAuth = (auth: Record<string, unknown>) =>
    bundle(authCode, { ping: rw({ auth }), tick: rw() });

  it('an MSP role: only that role of that MSP', () => {
    const h = createAppHarness();
    committed(h.install(withAuth({ kind: 'role', role: 'Org1MSP.client' })));
    const ping = (mspId: string, role: 'client' | 'admin' | 'peer') =>
      h.call({ app: 'demo', action: 'ping', caller: h.caller(mspId, role) });
    expect(committed(ping('Org1MSP', 'client'))).toBe('pong');
    expect(code(ping('Org2MSP', 'client'))).toBe('APP_E_FORBIDDEN');
    expect(code(ping('Org1MSP', 'peer'))).toBe('APP_E_FORBIDDEN');
    expect(code(ping('Org1MSP', 'admin'))).toBe('APP_E_FORBIDDEN');
    // The member role is any identity of the MSP.
    const h2 = createAppHarness();
    committed(h2.install(withAuth({ kind: 'role', role: 'Org2MSP.member' })));
    expect(
      committed(h2.call({ app: 'demo', action: 'ping', caller: h2.caller('Org2MSP', 'peer') })),
    ).toBe('pong');
    expect(
      code(h2.call({ app: 'demo', action: 'ping', caller: h2.caller('Org1MSP', 'admin') })),
    ).toBe('APP_E_FORBIDDEN');
  });

  it('a Fabric signature policy that one signer can satisfy', () => {
    const h = createAppHarness();
    committed(
      h.install(withAuth({ kind: 'policy', policy: "OR('Org1MSP.admin', 'Org2MSP.admin')" })),
    );
    const ping = (mspId: string, role: 'client' | 'admin') =>
      h.call({ app: 'demo', action: 'ping', caller: h.caller(mspId, role) });
    expect(committed(ping('Org2MSP', 'admin'))).toBe('pong');
    expect(committed(ping('Org1MSP', 'admin'))).toBe('pong');
    expect(code(ping('Org1MSP', 'client'))).toBe('APP_E_FORBIDDEN');
    expect(code(ping('Org3MSP', 'admin'))).toBe('APP_E_FORBIDDEN');
    // The other endpoint is open to any identity.
    expect(committed(h.call({ app: 'demo', action: 'tick', caller: h.caller('Org3MSP') }))).toBe(
      'tock',
    );
  });

  it('refuses at install a policy no transaction can satisfy; several signers count with endorsements', () => {
    const h = createAppHarness();
    // More signers than a signer and its endorsements can be.
    const many = Array.from({ length: 18 }, (_, i) => `'Org${i}MSP.member'`).join(', ');
    const outcome = h.install(withAuth({ kind: 'policy', policy: `AND(${many})` }));
    expect(code(outcome)).toBe('APP_E_POLICY_UNSUPPORTED');
    expect(outcome.status === 'invalid' && outcome.message).toMatch(/needs 18 distinct signers/);
    // Unsatisfiable: 2 out of 1.
    expect(code(h.install(withAuth({ kind: 'policy', policy: "OutOf(2, 'A.member')" })))).toBe(
      'APP_E_POLICY_UNSUPPORTED',
    );
    // Two organisations' admins: installable, satisfied only by both.
    committed(
      h.install(withAuth({ kind: 'policy', policy: "AND('Org1MSP.admin', 'Org2MSP.admin')" })),
    );
    expect(
      code(h.call({ app: 'demo', action: 'ping', caller: h.caller('Org1MSP', 'admin') })),
    ).toBe('APP_E_FORBIDDEN');
  });

  it('an oracle-triggered endpoint cannot be called directly', () => {
    const h = createAppHarness();
    committed(
      h.install(
        bundle(authCode, { ping: rw({ auth: { kind: 'oracle', feed: 'fx.EURUSD' } }), tick: rw() }),
      ),
    );
    expect(
      code(h.call({ app: 'demo', action: 'ping', caller: h.caller('Org1MSP', 'admin') })),
    ).toBe('APP_E_FORBIDDEN');
  });
});

describe('schemas, readonly endpoints and app refusals', () => {
  it('checks input and output against the manifest schemas', () => {
    const h = createAppHarness();
    committed(
      h.install(
        bundle(
          counterCode.replace(
            'return { key: args.key, value: next',
            'return { key: args.key, valu: next',
          ),
          counterEndpoints,
        ),
      ),
    );
    const user = h.caller('Org1MSP');
    const invalidArgs = h.call({
      app: 'demo',
      action: 'add',
      args: { key: 'a', by: 'x' },
      caller: user,
    });
    expect(code(invalidArgs)).toBe('APP_E_INVALID_ARGS');
    expect(invalidArgs.status === 'invalid' && invalidArgs.message).toMatch(/\/by must be integer/);
    const badOutput = h.call({
      app: 'demo',
      action: 'add',
      args: { key: 'a', by: 1 },
      caller: user,
    });
    expect(code(badOutput)).toBe('APP_E_OUTPUT_INVALID');
    expect(h.store.read('demo.counts', 'a')).toBeUndefined();
  });

  it('a readonly endpoint cannot write, even if it catches the refusal', () => {
    const h = createAppHarness();
    committed(
      h.install(
        bundle(
          `${counterCode}\nexports.sneaky = (args) => { try { require('@coffer/app').map('counts').put('k', '1'); } catch (e) {} return 'done'; };`,
          counterEndpoints,
        ),
      ),
    );
    expect(
      code(
        h.call({ app: 'demo', action: 'sneaky', args: { key: 'k' }, caller: h.caller('Org1MSP') }),
      ),
    ).toBe('APP_E_READONLY');
    expect(h.store.read('demo.counts', 'k')).toBeUndefined();
  });

  it('fail() makes APP_E_REJECTED with the app code; a throw is APP_E_FAILED; writes are dropped', () => {
    const h = createAppHarness();
    const failing = `const app = require('@coffer/app');
      exports.no = () => { app.map('m').put('k', 'v'); app.fail('LIMIT', 'over the limit'); };
      exports.boom = () => { app.map('m').put('k', 'v'); null.x; };`;
    committed(h.install(bundle(failing, { no: rw(), boom: rw() })));
    const no = h.call({ app: 'demo', action: 'no', caller: h.caller('Org1MSP') });
    expect(no).toMatchObject({
      status: 'invalid',
      code: 'APP_E_REJECTED',
      message: 'demo: over the limit',
    });
    const boom = h.call({ app: 'demo', action: 'boom', caller: h.caller('Org1MSP') });
    expect(boom).toMatchObject({ status: 'invalid', code: 'APP_E_FAILED' });
    expect(boom.status === 'invalid' && boom.message).toMatch(/TypeError/);
    expect(h.store.read('demo.m', 'k')).toBeUndefined();
  });
});

describe('determinism inside the sandbox', () => {
  const code = `const app = require('@coffer/app');
    let calls = 0;
    exports.roll = () => { calls++; return { r: Math.random(), s: app.random(), calls, date: typeof Date,
      weak: typeof WeakRef, now: app.time(), iso: app.isoTime(app.time()) }; };
    exports.leak = () => { globalThis.x = 1; return 'no'; };
    exports.poke = () => { Array.prototype.evil = 1; return 'no'; };
    exports.errors = () => { class MyError extends Error { constructor(m) { super(m); this.name = 'MyError'; } }
      const o = {}; o.toString = () => 'own'; return String(o) + ' ' + new MyError('x').name; };`;
  const endpoints = { roll: rw(), leak: rw(), poke: rw(), errors: rw() };

  it('no Date or WeakRef, random seeded by the transaction, module state fresh per call', () => {
    const h = createAppHarness({ startTime: 1_800_000_000_000 });
    committed(h.install(bundle(code, endpoints)));
    const user = h.caller('Org1MSP');
    const [a, b] = h.batch([
      { app: 'demo', action: 'roll', caller: user },
      { app: 'demo', action: 'roll', caller: user },
    ]);
    const first = committed(a) as Record<string, unknown>;
    const second = committed(b) as Record<string, unknown>;
    expect(first).toMatchObject({
      calls: 1,
      date: 'undefined',
      weak: 'undefined',
      iso: '2027-01-15T08:00:00.001Z',
    });
    expect(second['calls']).toBe(1);
    expect(first['r']).not.toBe(second['r']);
    // Another harness (another node) gets the same numbers for the same transactions.
    const h2 = createAppHarness({ startTime: 1_800_000_000_000 });
    committed(h2.install(bundle(code, endpoints)));
    const again = h2.batch([
      { app: 'demo', action: 'roll', caller: user },
      { app: 'demo', action: 'roll', caller: user },
    ]);
    expect(again.map(committed)).toEqual([first, second]);
  });

  it('the realm is frozen, with overridable prototype properties', () => {
    const h = createAppHarness();
    committed(h.install(bundle(code, endpoints)));
    const user = h.caller('Org1MSP');
    expect(code2(h.call({ app: 'demo', action: 'leak', caller: user }))).toBe('APP_E_FAILED');
    expect(code2(h.call({ app: 'demo', action: 'poke', caller: user }))).toBe('APP_E_FAILED');
    expect(committed(h.call({ app: 'demo', action: 'errors', caller: user }))).toBe('own MyError');
  });
});

it('isoTime agrees with Date.prototype.toISOString (the naive reference)', () => {
  const h = createAppHarness();
  const iso = `const app = require('@coffer/app'); exports.iso = (args) => args.times.map((ms) => app.isoTime(ms));`;
  committed(h.install(bundle(iso, { iso: rw() })));
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 253_402_300_799_999 }), { maxLength: 50 }),
      (times) => {
        const outcome = h.query('demo', 'iso', { times });
        expect(outcome.status === 'invalid' ? outcome.code : 'ok').toBe('TX_E_UNKNOWN_APP');
        const called = h.call({
          app: 'demo',
          action: 'iso',
          args: { times },
          caller: h.caller('Org1MSP'),
        });
        expect(committed(called)).toEqual(times.map((ms) => new Date(ms).toISOString()));
      },
    ),
    { numRuns: 20 },
  );
});

function code2(outcome: HarnessOutcome | undefined): string {
  return code(outcome);
}

describe('resource limits', () => {
  const hostile = `const app = require('@coffer/app');
    exports.ok = () => { app.map('m').put('k', 'v'); return 'ok'; };
    exports.loop = () => { app.map('m').put('loop', 'v'); for (;;) {} };
    exports.typed = () => { const a = []; for (;;) a.push(new Uint8Array(1 << 20)); };
    exports.objects = () => { const a = []; for (let i = 0; ; i++) a.push({ i, s: 'x' + i }); };
    exports.deep = () => { const f = (n) => f(n + 1) + 1; return f(0); };
    exports.huge = () => 'x'.repeat(100000);
    exports.logs = () => { for (let i = 0; i < 100; i++) app.log('line', i); return 'ok'; };
    exports.writes = () => { for (let i = 0; i < 20000; i++) app.map('m').put('k' + i, 'v'); return 'ok'; };`;
  const endpoints = Object.fromEntries(
    ['ok', 'loop', 'typed', 'objects', 'deep', 'huge', 'logs', 'writes'].map((name) => [
      name,
      rw(),
    ]),
  );

  it.each([
    ['loop', 'APP_E_CPU_LIMIT'],
    ['typed', 'APP_E_MEMORY_LIMIT'],
    ['objects', 'APP_E_MEMORY_LIMIT'],
    ['deep', 'APP_E_MEMORY_LIMIT'],
    ['huge', 'APP_E_OUTPUT_LIMIT'],
    ['logs', 'APP_E_OUTPUT_LIMIT'],
    ['writes', 'APP_E_OUTPUT_LIMIT'],
  ])(
    '%s is refused with %s, leaves no writes, and the next call in the batch runs',
    (name, expected) => {
      const h = createAppHarness();
      committed(h.install(bundle(hostile, endpoints)));
      const user = h.caller('Org1MSP');
      const started = performance.now();
      const [bad, next] = h.batch([
        { app: 'demo', action: name, caller: user },
        { app: 'demo', action: 'ok', caller: user },
      ]);
      expect(code(bad)).toBe(expected);
      expect(committed(next)).toBe('ok');
      expect(h.store.read('demo.m', 'loop')).toBeUndefined();
      expect(performance.now() - started).toBeLessThan(4000);
    },
  );

  it('a runaway call stops at the same point on every node (the same outcome twice)', () => {
    const outcomes = [1, 2].map(() => {
      const h = createAppHarness();
      committed(h.install(bundle(hostile, endpoints)));
      return h.call({ app: 'demo', action: 'loop', caller: h.caller('Org1MSP') });
    });
    expect(outcomes[0]).toEqual(outcomes[1]);
  });
});

describe('malformed bundles are refused with the failing field', () => {
  const good = bundle('exports.a = () => 1;', { a: rw() });
  const manifest = good['manifest'] as Record<string, unknown>;
  const cases: [string, unknown, string, RegExp][] = [
    ['not an object', 'nope', 'APP_E_BUNDLE_INVALID', /^bundle must be a JSON object/],
    [
      'wrong format',
      { ...good, format: 'zip' },
      'APP_E_BUNDLE_INVALID',
      /bundle.format must be coffer-app\/1/,
    ],
    ['extra field', { ...good, extra: 1 }, 'APP_E_BUNDLE_INVALID', /bundle.extra is not a field/],
    [
      'empty code',
      { ...good, code: '' },
      'APP_E_BUNDLE_INVALID',
      /bundle.code must be a non-empty string/,
    ],
    [
      'bad name',
      { ...good, manifest: { ...manifest, name: 'Bad Name' } },
      'APP_E_BUNDLE_INVALID',
      /manifest.name must be a string matching/,
    ],
    [
      'bad version',
      { ...good, manifest: { ...manifest, version: '1.0' } },
      'APP_E_BUNDLE_INVALID',
      /manifest.version/,
    ],
    [
      'no endpoints',
      { ...good, manifest: { ...manifest, endpoints: {} } },
      'APP_E_BUNDLE_INVALID',
      /manifest.endpoints must declare 1 to/,
    ],
    [
      'bad mode',
      bundle('exports.a = () => 1;', { a: rw({ mode: 'rw' }) }),
      'APP_E_BUNDLE_INVALID',
      /manifest.endpoints.a.mode must be readonly or readwrite/,
    ],
    [
      'bad auth',
      bundle('exports.a = () => 1;', { a: rw({ auth: { kind: 'everyone' } }) }),
      'APP_E_BUNDLE_INVALID',
      /manifest.endpoints.a.auth.kind/,
    ],
    [
      'bad role',
      bundle('exports.a = () => 1;', { a: rw({ auth: { kind: 'role', role: 'Org1MSP.boss' } }) }),
      'APP_E_BUNDLE_INVALID',
      /auth.role must be a string matching/,
    ],
    [
      'bad policy',
      bundle('exports.a = () => 1;', {
        a: rw({ auth: { kind: 'policy', policy: "OR('Org1MSP.admin'" } }),
      }),
      'APP_E_BUNDLE_INVALID',
      /auth.policy is not a Fabric signature policy/,
    ],
    [
      'bad schema',
      bundle('exports.a = () => 1;', { a: rw({ input: { type: 'object', propertiez: {} } }) }),
      'APP_E_BUNDLE_INVALID',
      /manifest.endpoints.a.input is not a valid JSON Schema/,
    ],
    [
      'no input schema',
      bundle('exports.a = () => 1;', {
        a: { mode: 'readwrite', auth: { kind: 'any' }, output: {} },
      }),
      'APP_E_BUNDLE_INVALID',
      /manifest.endpoints.a.input must be a JSON object/,
    ],
    [
      'syntax error',
      bundle('exports.a = () => {', { a: rw() }),
      'APP_E_BUNDLE_INVALID',
      /bundle.code does not compile: SyntaxError/,
    ],
    [
      'missing export',
      bundle('exports.b = () => 1;', { a: rw() }),
      'APP_E_BUNDLE_INVALID',
      /exports no function a/,
    ],
    [
      'throws on load',
      bundle('throw new Error("nope");', { a: rw() }),
      'APP_E_BUNDLE_INVALID',
      /fails when loaded/,
    ],
    [
      'loops on load',
      bundle('for (;;) {}', { a: rw() }),
      'APP_E_BUNDLE_INVALID',
      /instruction budget/,
    ],
    [
      'too large',
      bundle(`exports.a = () => 1; // ${'x'.repeat(60_000)}`, { a: rw() }),
      'APP_E_BUNDLE_INVALID',
      /bundleBytesMax/,
    ],
  ];

  it.each(cases)('%s', (_name, value, expectedCode, message) => {
    const h = createAppHarness();
    const outcome = h.install(value);
    expect(code(outcome)).toBe(expectedCode);
    expect(outcome.status === 'invalid' && outcome.message).toMatch(message);
    expect(h.store.maps()).toEqual([]);
  });
});
