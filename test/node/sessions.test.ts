// Session limits (decision 0040) of a real in-process node over mutual TLS on loopback: past
// the soft limit a new connection's request is answered 503 NODE_E_TOO_MANY_SESSIONS with
// Retry-After and the connection is closed; past the hard limit a connection is closed before
// its TLS handshake; once connections close, new ones are served again; GET /v1/status counts
// it all. And the node config's `sessions` field: defaults, and refusals naming the field.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiServer } from '../../src/node/api.js';
import type { Engine } from '../../src/node/engine.js';
import { sessionLimitsDefault, sessionsMaxAllowed } from '../../src/node/sessions.js';
import { readMinimalNodeConfig } from '../support/node-config.js';
import { closedSoon, getOver as get, openTls, type RawTlsTarget } from '../support/raw-tls.js';
import { org1Material, org1UserRawTls, startOrg1Node, type Org1 } from '../support/org1.js';

const limits = { softMax: 3, hardMax: 5 };

let work: string;
let org1: Org1;
let node: { engine: Engine; api: ApiServer; url: string };
let tlsOptions: Omit<RawTlsTarget, 'port'>;
const sockets = new Set<TLSSocket>();

/** Opens a mutual-TLS connection to the node; resolves once its handshake is done. */
function open(): Promise<TLSSocket> {
  return openTls({ port: Number(new URL(node.url).port), ...tlsOptions }, sockets);
}

type Stats = {
  open: number;
  softMax: number;
  hardMax: number;
  refusedRequests: number;
  droppedConnections: number;
};

async function sessionStats(socket: TLSSocket): Promise<Stats> {
  const reply = await get(socket, '/v1/status');
  expect(reply.status).toBe(200);
  return (reply.body['api'] as { sessions: Stats }).sessions;
}

/** Polls until the node counts `open` connections (closing is asynchronous on both ends). */
async function untilOpen(socket: TLSSocket, open: number): Promise<Stats> {
  for (let attempt = 0; ; attempt += 1) {
    const stats = await sessionStats(socket);
    if (stats.open === open || attempt >= 100) return stats;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function closeAll(list: readonly TLSSocket[]): Promise<unknown> {
  return Promise.all(
    list.map((socket) => {
      const closed = closedSoon(socket);
      socket.destroy();
      return closed;
    }),
  );
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-sessions-'));
  org1 = await org1Material(work);
  tlsOptions = await org1UserRawTls(work, org1);
  node = await startOrg1Node(work, org1, { sessions: limits });
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await node.api.close();
  await node.engine.stop();
  await rm(work, { recursive: true, force: true });
});

describe('session limits of the API listener', () => {
  it('answers a connection past the soft limit 503 NODE_E_TOO_MANY_SESSIONS, drops one past the hard limit, and serves again once connections close', async () => {
    // Up to the soft limit, every connection is served.
    const held = [await open(), await open(), await open()];
    for (const socket of held) expect((await get(socket, '/v1/ledger/position')).status).toBe(200);
    const first = held[0] as TLSSocket;
    expect(await sessionStats(first)).toEqual({
      open: 3,
      ...limits,
      refusedRequests: 0,
      droppedConnections: 0,
    });

    // Past it: the request is refused, says why and when to come back, and the connection ends.
    const overSoft = await open();
    const refused = await get(overSoft, '/v1/ledger/position');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('1');
    expect(refused.headers.get('connection')).toBe('close');
    expect(refused.body['error']).toMatchObject({ code: 'NODE_E_TOO_MANY_SESSIONS' });
    expect((refused.body['error'] as { message: string }).message).toContain('more than 3 open');
    expect(await closedSoon(overSoft)).toBe(true);
    // The node sees it closed a moment after this end does.
    expect((await untilOpen(first, 3)).open).toBe(3);

    // Two more connections, idle, bring the listener to its hard limit; the next is dropped.
    const idle = [await open(), await open()];
    expect((await untilOpen(first, 5)).open).toBe(5);
    await expect(open()).rejects.toThrow();
    const stats = await sessionStats(first);
    expect(stats.droppedConnections).toBeGreaterThanOrEqual(1);
    expect(stats.refusedRequests).toBe(1);

    // Connections gone, a new one is served again.
    await closeAll(idle);
    await closeAll(held.slice(1));
    expect((await untilOpen(first, 1)).open).toBe(1);
    const again = await open();
    expect((await get(again, '/v1/ledger/position')).status).toBe(200);
    await closeAll([again, first]);
  }, 30_000);
});

describe('node config `sessions`', () => {
  const configWith = (extra: Record<string, unknown>): Promise<unknown> =>
    readMinimalNodeConfig(work, extra);

  it('leaves sessions unset when the file does (the listener then takes 1000/1100)', async () => {
    expect(await configWith({})).not.toHaveProperty('sessions');
    expect(sessionLimitsDefault).toEqual({ softMax: 1000, hardMax: 1100 });
  });

  it('reads both limits, and keeps the default margin when only softMax is set', async () => {
    expect(await configWith({ sessions: { softMax: 10, hardMax: 12 } })).toMatchObject({
      sessions: { softMax: 10, hardMax: 12 },
    });
    expect(await configWith({ sessions: { softMax: 10 } })).toMatchObject({
      sessions: { softMax: 10, hardMax: 110 },
    });
    expect(await configWith({ sessions: { softMax: sessionsMaxAllowed } })).toMatchObject({
      sessions: { softMax: sessionsMaxAllowed, hardMax: sessionsMaxAllowed },
    });
  });

  it.each([
    [{ sessions: 5 }, 'sessions must be an object'],
    [{ sessions: [10] }, 'sessions must be an object'],
    [{ sessions: { softMax: 0 } }, 'sessions.softMax must be an integer from 1'],
    [{ sessions: { softMax: 1.5 } }, 'sessions.softMax must be an integer from 1'],
    [{ sessions: { softMax: sessionsMaxAllowed + 1 } }, 'sessions.softMax must be an integer'],
    [{ sessions: { softMax: 10, hardMax: 9 } }, 'sessions.hardMax must be at least'],
  ])('refuses %j with CLI_E_USAGE naming the field', async (extra, message) => {
    await expect(configWith(extra)).rejects.toMatchObject({
      code: 'CLI_E_USAGE',
      message: expect.stringContaining(message) as unknown,
    });
  });
});
