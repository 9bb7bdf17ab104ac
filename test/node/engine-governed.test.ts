// The engine with its consortium in the ledger (governance): an empty ledger starts with the
// genesis entry, the consortium is what the state says, and a change takes effect from the
// next batch, the same way after a restart that rebuilds everything from the log.
import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import type { App } from '../../src/contracts/index.js';
import { builtInApps } from '../../src/contracts/index.js';
import type { Consortium } from '../../src/ledger/execute.js';
import { startEngine, type Engine } from '../../src/node/engine.js';
import type { PageOps } from '../../src/node/shared-pool.js';
import { org1Material, type Org1 } from '../support/org1.js';

const configMap = 'public:cfg.config';

/** A stand-in for the governance app: writes the config map. */
const configApp: App = {
  name: 'cfg',
  version: '1',
  summary: 'test: sets the consortium switch',
  actions: {
    set: {
      summary: 'sets members to "none" or "org1"',
      args: {},
      run: (context, args) => {
        context.kv.put(configMap, 'members', String(args['members']));
        return null;
      },
    },
  },
  queries: {},
};

let work: string;
let org1: Org1;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-governed-'));
  org1 = await org1Material(work);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function start(dir: string): Promise<Engine> {
  const none: Consortium = { msps: new Map() };
  return startEngine({
    dataDir: path.join(work, dir),
    nodeId: 'n0',
    // Never used: the ledger holds the configuration.
    consortium: () => none,
    governed: {
      genesis: {
        config: { members: 'org1' },
        writes: [{ map: configMap, key: 'members', value: 'org1' }],
      },
      configMap,
      consortiumOf: (read) => (read(configMap, 'members') === 'org1' ? org1.consortium : none),
    },
    apps: new Map([...builtInApps(), [configApp.name, configApp]]),
    rootSigner: org1.rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 5,
    signatureIntervalMs: 20,
  });
}

async function send(engine: Engine, app: string, action: string, args: Record<string, unknown>) {
  const { envelope } = await signEnvelope({
    app,
    action,
    args,
    identity: org1.user.identity,
    signer: org1.user.signer,
  });
  const submitted = await engine.submit(envelope);
  if (!submitted.ok) return { refused: submitted.error.code };
  return engine.waitFor(submitted.txId, 5000);
}

describe('engine with the consortium in the ledger', () => {
  it('writes the genesis entry first, takes the consortium from the state, and applies a change from the next batch', async () => {
    const engine = await start('a');
    try {
      expect(engine.position().seqno).toBe(1);
      expect(engine.store().read(configMap, 'members')).toBe('org1');
      expect(engine.consortium().msps.has('Org1MSP')).toBe(true);
      const put = await send(engine, 'kv', 'put', { map: 'public:kv.g', key: 'k', value: 'v' });
      expect(put).toMatchObject({ status: 'Committed', seqno: 2 });
      // Org1 votes itself out (a stand-in for a governance change).
      const set = await send(engine, 'cfg', 'set', { members: 'none' });
      expect(set, JSON.stringify(set)).toMatchObject({
        status: 'Committed',
      });
      expect(engine.consortium().msps.size).toBe(0);
      // The next submission is refused at once: its signer belongs to no MSP any more.
      const after = await send(engine, 'kv', 'put', { map: 'public:kv.g', key: 'k', value: 'w' });
      expect(after).toMatchObject({ refused: 'TX_E_UNKNOWN_MSP' });
    } finally {
      await engine.stop();
    }
    // Rebuilt from the log: the same genesis, the same state, the same consortium.
    const again = await start('a');
    try {
      expect(again.consortium().msps.size).toBe(0);
      expect(again.store().read('public:kv.g', 'k')).toBe('v');
    } finally {
      await again.stop();
    }
  });
});

describe('signature entries follow the governed settings', () => {
  it("the ledger's signature interval applies, not the node's own, from the batch that changes it", async () => {
    const none: Consortium = { msps: new Map() };
    const settingsApp: App = {
      ...configApp,
      actions: {
        every: {
          summary: 'sets the signature interval in entries',
          args: {},
          run: (context, args) => {
            context.kv.put(configMap, 'sigtx', String(args['entries']));
            return null;
          },
        },
      },
    };
    const engine = await startEngine({
      dataDir: path.join(work, 'settings'),
      nodeId: 'n0',
      consortium: () => none,
      governed: {
        genesis: {
          config: { sigtx: 4 },
          writes: [{ map: configMap, key: 'sigtx', value: '4' }],
        },
        configMap,
        consortiumOf: () => org1.consortium,
        settingsOf: (read) => ({
          signatureIntervalTx: Number(read(configMap, 'sigtx')),
          signatureIntervalMs: 1_000_000,
          snapshotIntervalTx: 100_000,
        }),
      },
      apps: new Map([...builtInApps(), [settingsApp.name, settingsApp]]),
      rootSigner: org1.rootSigner,
      logger: pino({ level: 'silent' }),
      // The node's own choice, which a governed ledger overrides.
      signatureIntervalTx: 1000,
      signatureIntervalMs: 1_000_000,
    });
    try {
      const put = (key: string) =>
        send(engine, 'kv', 'put', { map: 'public:kv.s', key, value: 'v' });
      // The first batch is signed at once (no signature entry yet): genesis and one entry.
      expect(await put('k0')).toMatchObject({ seqno: 2 });
      await engine.idle();
      expect(engine.lastSignedRoot()?.treeSize).toBe(2);
      // Then every 4 entries (the ledger's setting; the node's own 1000 would sign none).
      for (const key of ['k1', 'k2', 'k3']) await put(key);
      await engine.idle();
      expect(engine.lastSignedRoot()?.treeSize).toBe(2);
      expect(await put('k4')).toMatchObject({ seqno: 7 });
      await engine.idle();
      expect(engine.lastSignedRoot()?.treeSize).toBe(7);
      // Every 2 from the batch that changes it.
      expect(await send(engine, 'cfg', 'every', { entries: 2 })).toMatchObject({ seqno: 9 });
      expect(await put('k5')).toMatchObject({ seqno: 10 });
      await engine.idle();
      expect(engine.lastSignedRoot()?.treeSize).toBe(10);
    } finally {
      await engine.stop();
    }
  });
});

describe("the node's own snapshots in a governed ledger", () => {
  it('are made from copies of the state (handed back once written) between commit points, and a restart loads the newest', async () => {
    const none: Consortium = { msps: new Map() };
    const lines: string[] = [];
    const handedBack: { shared: boolean; files: string[] }[] = [];
    const dataDir = path.join(work, 'local-snapshots');
    const startLocal = (logger: pino.Logger, memoryPages?: PageOps) =>
      startEngine({
        dataDir,
        nodeId: 'n0',
        consortium: () => none,
        governed: {
          genesis: { config: {}, writes: [] },
          configMap,
          consortiumOf: () => org1.consortium,
          // Commit points every 100,000 entries: none in this test.
          settingsOf: () => ({
            signatureIntervalTx: 5,
            signatureIntervalMs: 1_000_000,
            snapshotIntervalTx: 100_000,
          }),
        },
        apps: builtInApps(),
        rootSigner: org1.rootSigner,
        logger,
        // The node's own snapshots: every 20 entries, at a signature entry.
        snapshotIntervalTx: 20,
        ...(memoryPages === undefined ? {} : { memoryPages }),
      });
    const memoryPages: PageOps = {
      prefault: () => Promise.resolve(),
      discard: (views) => {
        handedBack.push({
          shared: views.every((view) => view.buffer instanceof SharedArrayBuffer),
          files: readdirSync(path.join(dataDir, 'snapshots')),
        });
        return Promise.resolve(views.reduce((bytes, view) => bytes + view.byteLength, 0));
      },
    };
    let engine = await startLocal(
      pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
      memoryPages,
    );
    for (let i = 0; i < 60; i += 1) {
      expect(
        await send(engine, 'kv', 'put', { map: 'public:kv.l', key: `k${i}`, value: `v${i}` }),
      ).toMatchObject({ status: 'Committed' });
    }
    await engine.idle();
    const before = engine.position();
    await engine.stop();

    const written = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line['msg'] === 'snapshot written');
    // At least two of them (at seqnos past 20 and 40), none a commit point's.
    expect(written.length).toBeGreaterThanOrEqual(2);
    for (const line of written) {
      expect(line).toMatchObject({ committed: false, copyMs: expect.any(Number) as unknown });
      expect(line['file']).toMatch(/snapshot-\d{20}\.snap$/);
    }
    const files = readdirSync(path.join(dataDir, 'snapshots'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    expect(files.every((name) => /^snapshot-\d{20}\.snap$/.test(name))).toBe(true);
    // Each snapshot's copies went back once its file was there (none is kept for V8 to free).
    expect(handedBack.length).toBeGreaterThanOrEqual(written.length);
    expect(handedBack.every((call) => call.shared)).toBe(true);
    for (const line of written) {
      const name = path.basename(String(line['file']));
      expect(handedBack.some((call) => call.files.includes(name))).toBe(true);
    }

    lines.length = 0;
    engine = await startLocal(
      pino({ level: 'info' }, { write: (line: string) => lines.push(line) }),
    );
    try {
      const loaded = lines
        .map((line) => JSON.parse(line) as Record<string, unknown>)
        .find((line) => line['msg'] === 'loaded snapshot');
      expect(loaded?.['file']).toBe(written.at(-1)?.['file']);
      expect(engine.position()).toMatchObject({ seqno: before.seqno, root: before.root });
      for (let i = 0; i < 60; i += 1) {
        expect(engine.store().read('public:kv.l', `k${i}`)).toBe(`v${i}`);
      }
    } finally {
      await engine.stop();
    }
  });
});
