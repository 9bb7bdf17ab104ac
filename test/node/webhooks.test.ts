// Custody webhooks on a node in-process: a real engine with custody, the dispatcher with its
// outbox in the data directory, and receivers that are http servers on 127.0.0.1. Events arrive
// signed (t=,v1= HMAC) with stable ids, are retried with backoff after a failure, survive a
// restart of the node in the outbox, and reach a receiver that was down once it is back.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  identityFromMspFolder,
  signEnvelope,
  type ClientIdentity,
} from '../../src/client/index.js';
import type { Signer } from '../../src/client/signer.js';
import { builtInApps } from '../../src/contracts/index.js';
import { custodyApp, depositsMap, withdrawalsMap } from '../../src/custody/index.js';
import {
  backoffMs,
  historyCount,
  verifyWebhookSignature,
  webhookEventId,
  webhookSignatureHeader,
  type CustodyEvent,
} from '../../src/custody/webhooks.js';
import { startEngine, type Engine } from '../../src/node/engine.js';
import { readMinimalNodeConfig } from '../support/node-config.js';
import {
  newWebhookSecret,
  startWebhookDispatcher,
  webhookEndpointsOf,
  webhookSourceOf,
  type WebhookDispatcher,
} from '../../src/node/webhooks.js';
import { cofferAddress, keysArg, walletKeys } from '../custody/driver.js';
import { org1Material, type Org1 } from '../support/org1.js';

type Who = { readonly identity: ClientIdentity; readonly signer: Signer; readonly id: string };
type Received = {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly at: number;
};

/** A receiver on 127.0.0.1: records what it gets, answers 500 `failures` times, can go down. */
type Receiver = {
  readonly url: string;
  readonly received: Received[];
  failures: number;
  readonly down: () => Promise<void>;
  readonly up: () => Promise<void>;
};

async function receiver(): Promise<Receiver> {
  let server: Server | undefined;
  let port = 0;
  const self = {
    url: '',
    received: [] as Received[],
    failures: 0,
    up: async () => {
      const started = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (chunk: Buffer) => chunks.push(chunk));
        req.on('end', () => {
          self.received.push({
            headers: req.headers,
            body: Buffer.concat(chunks).toString('utf8'),
            at: Date.now(),
          });
          if (self.failures > 0) {
            self.failures -= 1;
            res.writeHead(500).end('try later');
          } else {
            res.writeHead(204).end();
          }
        });
      });
      await new Promise<void>((resolve) => started.listen(port, '127.0.0.1', resolve));
      const address = started.address();
      if (typeof address === 'object' && address !== null) port = address.port;
      server = started;
    },
    down: async () => {
      const running = server;
      server = undefined;
      if (running === undefined) return;
      running.closeAllConnections();
      await new Promise<void>((resolve) => {
        running.close(() => {
          resolve();
        });
      });
    },
  };
  await self.up();
  self.url = `http://127.0.0.1:${port}/hooks`;
  return self;
}

/** Seeded jitter (mulberry32): a failing run replays with the seed it prints. */
const seed = Number(process.env['COFFER_SEED'] ?? Date.now() % 2 ** 31);
function seeded(start: number): () => number {
  let state = start;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

let work: string;
let org1: Org1;
let svc: Who;
let admin: Who;
let worker: Who;
let engine: Engine;
let dispatcher: WebhookDispatcher;
let all: Receiver;
let approvals: Receiver;
const secret = newWebhookSecret();
const approvalsSecret = newWebhookSecret();
const dataDir = (): string => path.join(work, 'node');

async function who(mspDir: string): Promise<Who> {
  const { identity, signer } = await identityFromMspFolder(mspDir, 'Org1MSP');
  const outcome = org1.consortium.msps
    .get('Org1MSP')
    ?.deserializeIdentity('Org1MSP', identity.certPem);
  if (outcome?.ok !== true) throw new Error(mspDir);
  return { identity, signer, id: outcome.identity.id };
}

async function start(): Promise<void> {
  const custody = {
    policyQuorum: 1,
    chains: {
      coffer: { confirmations: 1, workers: [`Org1MSP:${worker.id}`] },
      ethereum: { confirmations: 12, workers: [] },
      bitcoin: { confirmations: 6, workers: [] },
    },
  };
  engine = await startEngine({
    dataDir: dataDir(),
    nodeId: 'n0',
    consortium: () => org1.consortium,
    governed: {
      genesis: {
        config: { custody },
        writes: [{ map: 'public:gov.config', key: 'custody', value: JSON.stringify(custody) }],
      },
      configMap: 'public:cfg.config',
      consortiumOf: () => org1.consortium,
    },
    apps: new Map([...builtInApps(), [custodyApp.name, custodyApp]]),
    rootSigner: org1.rootSigner,
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 1000,
    signatureIntervalMs: 50,
  });
  dispatcher = await startWebhookDispatcher({
    dataDir: dataDir(),
    endpoints: [
      { url: all.url, secret },
      { url: approvals.url, secret: approvalsSecret, events: ['withdrawal.approved'] },
    ],
    ...webhookSourceOf(engine),
    logger: pino({ level: 'silent' }),
    pollMs: 20,
    backoff: { baseMs: 60, maxMs: 500 },
    random: seeded(seed),
  });
}

async function stop(): Promise<void> {
  await dispatcher.stop();
  await engine.stop();
}

async function run(by: Who, action: string, args: Record<string, unknown>) {
  const { envelope } = await signEnvelope({
    app: 'custody',
    action,
    args,
    identity: by.identity,
    signer: by.signer,
  });
  const submitted = await engine.submit(envelope);
  if (!submitted.ok) throw submitted.error;
  const status = await engine.waitFor(submitted.txId, 5000);
  if (status.status !== 'Committed')
    throw new Error(`${action}: ${JSON.stringify(status)} (seed=${seed})`);
  return status.result as Record<string, Record<string, unknown>>;
}

let deposits = 0;
async function deposit(address: string, amount: string): Promise<string> {
  const output = { chain: 'coffer', chainTxId: `hook-${++deposits}`, outputIndex: 0 };
  await run(worker, 'deposit_seen', {
    ...output,
    address,
    asset: 'COF',
    amount,
    blockHeight: 5,
    blockHash: 'block-5',
  });
  await run(worker, 'deposit_confirmations', { ...output, confirmations: 2 });
  return `coffer/${output.chainTxId}/0`;
}

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (seed=${seed})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const events = (receiver: Receiver): CustodyEvent[] =>
  receiver.received.map((item) => JSON.parse(item.body) as CustodyEvent);

let walletId = '';
const depositAddress = cofferAddress('hook deposit');
const destination = cofferAddress('hook destination');

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-webhooks-'));
  org1 = await org1Material(work);
  const org = path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');
  svc = await who(path.join(org, 'users', 'User1@org1.example.com', 'msp'));
  admin = await who(path.join(org, 'users', 'Admin@org1.example.com', 'msp'));
  worker = await who(path.join(org, 'peers', 'peer0.org1.example.com', 'msp'));
  all = await receiver();
  approvals = await receiver();
  await start();
  const created = await run(svc, 'create_wallet', {
    chain: 'coffer',
    label: 'hooks',
    keys: keysArg(walletKeys('P-256', 'hooks'), 'P-256'),
  });
  walletId = String(created['wallet']?.['id']);
  await run(svc, 'add_address', { walletId, address: depositAddress, account: 'a1' });
}, 60_000);

afterAll(async () => {
  await stop();
  await all.down();
  await approvals.down();
  await rm(work, { recursive: true, force: true });
});

describe('webhook signatures and backoff (pure)', () => {
  it('verifies its own header, and refuses a changed body, another key or an old timestamp', () => {
    const body = '{"id":"x"}';
    const header = webhookSignatureHeader('k'.repeat(32), 1_700_000_000, body);
    expect(header).toMatch(/^t=1700000000,v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature('k'.repeat(32), header, body, 1_700_000_100)).toBe(true);
    expect(verifyWebhookSignature('k'.repeat(32), header, '{"id":"y"}', 1_700_000_100)).toBe(false);
    expect(verifyWebhookSignature('j'.repeat(32), header, body, 1_700_000_100)).toBe(false);
    expect(verifyWebhookSignature('k'.repeat(32), header, body, 1_700_000_301)).toBe(false);
    expect(verifyWebhookSignature('k'.repeat(32), 'v1=00', body, 1_700_000_000)).toBe(false);
  });

  it('backs off exponentially, capped, jittered within [step/2, step]', () => {
    const random = seeded(seed);
    const backoff = { baseMs: 1000, maxMs: 60_000 };
    for (let attempt = 1; attempt <= 20; attempt += 1) {
      const step = Math.min(60_000, 1000 * 2 ** (attempt - 1));
      const delay = backoffMs(attempt, random(), backoff);
      expect(delay, `seed=${seed}`).toBeGreaterThanOrEqual(step / 2);
      expect(delay, `seed=${seed}`).toBeLessThanOrEqual(step);
    }
  });
});

describe('webhooks in the node config', () => {
  const configWith = (webhooks: unknown) => readMinimalNodeConfig(work, { webhooks });

  it('reads endpoints with paths resolved, and refuses bad ones naming the field', async () => {
    const config = await configWith([
      { url: 'http://127.0.0.1:9/h', secretFile: 'hook.secret', events: ['deposit.*'] },
    ]);
    expect(config.webhooks).toEqual([
      {
        url: 'http://127.0.0.1:9/h',
        secretFile: path.join(work, 'hook.secret'),
        events: ['deposit.*'],
      },
    ]);
    await expect(configWith([{ url: 'ftp://x', secretFile: 's' }])).rejects.toMatchObject({
      code: 'CLI_E_USAGE',
      message: expect.stringContaining('webhooks[0].url') as unknown,
    });
    await expect(
      configWith([{ url: 'http://127.0.0.1:9/h', secretFile: 's', events: ['ledger.x'] }]),
    ).rejects.toMatchObject({ code: 'CLI_E_USAGE' });
    await writeFile(path.join(work, 'short.secret'), 'short\n');
    await expect(
      webhookEndpointsOf([
        { url: 'http://127.0.0.1:9/h', secretFile: path.join(work, 'short.secret') },
      ]),
    ).rejects.toMatchObject({ code: 'CLI_E_USAGE' });
  });
});

describe('custody webhooks', () => {
  it('delivers deposit and withdrawal state changes, HMAC-signed, with stable ids', async () => {
    const depositId = await deposit(depositAddress, '1000');
    await until('deposit events', () =>
      events(all).some((event) => event.type === 'deposit.credited'),
    );
    const change = await run(svc, 'propose_policy', {
      walletId,
      change: { kind: 'whitelist_add', address: destination, label: 'out' },
    });
    await run(admin, 'approve_policy', { changeId: change['change']?.['id'] });
    const requested = await run(svc, 'request', {
      walletId,
      asset: 'COF',
      amount: '10',
      destination,
      idempotencyKey: 'hook-1',
    });
    const withdrawalId = String(requested['withdrawal']?.['id']);
    await run(admin, 'approve', { withdrawalId });
    await until('the approval', () => approvals.received.length >= 1);
    await until('withdrawal events', () =>
      events(all).some((event) => event.type === 'withdrawal.approved'),
    );

    const nowS = Math.floor(Date.now() / 1000);
    for (const item of all.received) {
      const header = String(item.headers['coffer-signature']);
      expect(verifyWebhookSignature(secret, header, item.body, nowS)).toBe(true);
      expect(verifyWebhookSignature(approvalsSecret, header, item.body, nowS)).toBe(false);
      const event = JSON.parse(item.body) as CustodyEvent;
      expect(item.headers['coffer-event-id']).toBe(event.id);
      expect(item.headers['coffer-event-type']).toBe(event.type);
      expect(event.id).toBe(
        webhookEventId(event.txId, event.object.kind, event.object.id, event.state),
      );
    }
    expect(
      events(all)
        .filter((event) => event.object.id === depositId)
        .map((event) => event.type)
        .sort(),
    ).toEqual(['deposit.credited', 'deposit.seen']);
    expect(
      events(all)
        .filter((event) => event.object.id === withdrawalId)
        .map((event) => [event.type, event.previousState])
        .sort(),
    ).toEqual([
      ['withdrawal.approved', 'pending_approval'],
      ['withdrawal.pending_approval', 'requested'],
      ['withdrawal.requested', null],
    ]);
    // The filtered endpoint gets only the approval, signed with its own secret.
    expect(events(approvals).map((event) => event.type)).toEqual(['withdrawal.approved']);
    const [approved] = approvals.received;
    expect(
      verifyWebhookSignature(
        approvalsSecret,
        String(approved?.headers['coffer-signature']),
        String(approved?.body),
        nowS,
      ),
    ).toBe(true);
  });

  it('retries a failed delivery with backoff; the retries carry the same event id', async () => {
    const requested = await run(svc, 'request', {
      walletId,
      asset: 'COF',
      amount: '20',
      destination,
      idempotencyKey: 'hook-2',
    });
    const withdrawalId = String(requested['withdrawal']?.['id']);
    await until('the request events', () =>
      events(all).some(
        (event) => event.object.id === withdrawalId && event.type === 'withdrawal.pending_approval',
      ),
    );
    // The approval is one event for this receiver: answered 500, 500, then taken.
    all.failures = 2;
    const before = all.received.length;
    await run(admin, 'approve', { withdrawalId });
    const approvedOf = (item: Received): boolean => {
      const event = JSON.parse(item.body) as CustodyEvent;
      return event.object.id === withdrawalId && event.type === 'withdrawal.approved';
    };
    await until(
      'the delivery after two failures',
      () => all.received.slice(before).filter(approvedOf).length >= 3,
    );
    const tries = all.received.slice(before).filter(approvedOf);
    expect(tries.map((item) => item.headers['coffer-delivery-attempt'])).toEqual(['1', '2', '3']);
    expect(new Set(tries.map((item) => item.headers['coffer-event-id'])).size).toBe(1);
    expect(new Set(tries.map((item) => item.body)).size).toBe(1);
    expect((JSON.parse(String(tries[0]?.body)) as CustodyEvent).type).toBe('withdrawal.approved');
    const gaps = tries.slice(1).map((item, index) => item.at - (tries[index]?.at ?? 0));
    // Base 60 ms: the first retry after at least 30 ms, the second after at least 60 ms.
    expect(gaps[0], `seed=${seed}`).toBeGreaterThanOrEqual(25);
    expect(gaps[1], `seed=${seed}`).toBeGreaterThanOrEqual(55);
    // A receiver de-duplicates by id: every distinct event once.
    const ids = events(all).map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length - 2);
  });

  it('keeps events in the outbox across a restart; a receiver down for a while gets them later', async () => {
    await all.down();
    const before = all.received.length;
    const depositId = await deposit(depositAddress, '7');
    const outboxFile = path.join(dataDir(), 'webhooks', 'outbox.json');
    await until(
      'the events in the outbox',
      () =>
        (
          JSON.parse(readFileSync(outboxFile, 'utf8')) as { deliveries: { body: string }[] }
        ).deliveries.filter(
          (item) => (JSON.parse(item.body) as CustodyEvent).object.id === depositId,
        ).length >= 2,
    );
    await stop();
    const outbox = JSON.parse(
      await readFile(path.join(dataDir(), 'webhooks', 'outbox.json'), 'utf8'),
    ) as { deliveries: { body: string }[] };
    expect(
      outbox.deliveries.map((item) => (JSON.parse(item.body) as CustodyEvent).object.id),
    ).toContain(depositId);
    await start();
    // Still down after the restart: attempts fail and wait; then it comes back.
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(all.received.length).toBe(before);
    await all.up();
    await until(
      'the deliveries after the receiver is back',
      () => dispatcher.stats().pending === 0,
      15_000,
    );
    const late = events(all)
      .slice(before)
      .filter((event) => event.object.id === depositId)
      .map((event) => event.type)
      .sort();
    expect(late).toEqual(['deposit.credited', 'deposit.seen']);
    // Nothing derived twice after the restart: the cursor was in the outbox too.
    const ids = events(all).map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length - 2);
  });

  /** Another dispatcher on the running engine, its outbox in `dir`, counting full scans. */
  async function watcher(dir: string, to: Receiver) {
    const source = webhookSourceOf(engine);
    const counted = { scans: 0 };
    const started = await startWebhookDispatcher({
      dataDir: dir,
      endpoints: [{ url: to.url, secret }],
      ...source,
      store: () => {
        const store = source.store();
        return {
          read: store.read,
          seqno: store.seqno,
          entries: (map: string) => {
            counted.scans += 1;
            return store.entries(map);
          },
        };
      },
      logger: pino({ level: 'silent' }),
      pollMs: 20,
    });
    return { dispatcher: started, counted };
  }

  it('finds new events from the change feed, not by scanning; the outbox does not grow with the objects', async () => {
    const third = await receiver();
    try {
      for (let i = 0; i < 12; i += 1) await deposit(depositAddress, String(100 + i));
      const dir = path.join(work, 'feed');
      const { dispatcher: feed, counted } = await watcher(dir, third);
      try {
        // A new outbox: one scan delivers the whole history, once.
        await until('the history', () => feed.stats().pending === 0 && third.received.length > 0);
        const scans = counted.scans;
        const history = events(third).length;
        expect(new Set(events(third).map((event) => event.id)).size).toBe(history);
        const fresh = await deposit(depositAddress, '5');
        await until('the new deposit', () =>
          events(third).some((event) => event.object.id === fresh && event.state === 'credited'),
        );
        expect(counted.scans, 'no scan after the first').toBe(scans);
        expect(
          events(third)
            .slice(history)
            .map((event) => `${event.object.id} ${event.type}`)
            .sort(),
        ).toEqual([`${fresh} deposit.credited`, `${fresh} deposit.seen`]);
        const outbox = JSON.parse(
          await readFile(path.join(dir, 'webhooks', 'outbox.json'), 'utf8'),
        ) as Record<string, unknown>;
        expect(Object.keys(outbox).sort()).toEqual([
          'dead',
          'delivered',
          'deliveries',
          'derivedSeqno',
          'v',
        ]);
        // The cursor is past the transaction that credited the deposit (it is saved before the
        // deliveries of its pass go out).
        const credited = events(third).find(
          (event) => event.object.id === fresh && event.state === 'credited',
        );
        const status = await engine.status(credited?.txId ?? '');
        expect(status.status).toBe('Committed');
        expect(outbox['derivedSeqno']).toBeGreaterThanOrEqual(
          status.status === 'Committed' ? status.seqno : Infinity,
        );
      } finally {
        await feed.stop();
      }
      // Stopped while deposits happen: the next start delivers exactly those, nothing again.
      const before = third.received.length;
      const missed = await deposit(depositAddress, '6');
      const again = await watcher(dir, third);
      try {
        await until('the missed deposit', () =>
          events(third).some((event) => event.object.id === missed && event.state === 'credited'),
        );
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(
          events(third)
            .slice(before)
            .map((event) => `${event.object.id} ${event.type}`)
            .sort(),
        ).toEqual([`${missed} deposit.credited`, `${missed} deposit.seen`]);
      } finally {
        await again.dispatcher.stop();
      }
    } finally {
      await third.down();
    }
  });

  it('takes over a version 1 outbox (a cursor per object) without sending anything again', async () => {
    const fourth = await receiver();
    try {
      const store = engine.store();
      const kv = { get: store.read };
      const cursors: Record<string, number> = {};
      for (const [kind, map] of [
        ['deposit', depositsMap],
        ['withdrawal', withdrawalsMap],
      ] as const) {
        for (const [id] of store.entries(map))
          cursors[`${kind}/${id}`] = historyCount(kv, kind, id);
      }
      // One object's last entry not yet taken: exactly its event goes out.
      const [lastKey] = Object.keys(cursors)
        .filter((key) => key.startsWith('deposit/'))
        .slice(-1);
      if (lastKey === undefined) throw new Error('no deposit');
      cursors[lastKey] = (cursors[lastKey] ?? 1) - 1;
      const dir = path.join(work, 'v1');
      await mkdir(path.join(dir, 'webhooks'), { recursive: true });
      await writeFile(
        path.join(dir, 'webhooks', 'outbox.json'),
        JSON.stringify({ v: 1, cursors, deliveries: [], delivered: 0, dead: 0 }),
      );
      const { dispatcher: migrated } = await watcher(dir, fourth);
      try {
        await until('the one event', () => fourth.received.length > 0);
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(events(fourth).map((event) => `deposit/${event.object.id} ${event.state}`)).toEqual([
          `${lastKey} credited`,
        ]);
      } finally {
        await migrated.stop();
      }
      const written = JSON.parse(
        await readFile(path.join(dir, 'webhooks', 'outbox.json'), 'utf8'),
      ) as Record<string, unknown>;
      expect(written['v']).toBe(2);
      expect(written['cursors']).toBeUndefined();
    } finally {
      await fourth.down();
    }
  });
});
