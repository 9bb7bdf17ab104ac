// The node's webhook dispatcher (issue 7): derives custody events from committed state
// (src/custody/webhooks.ts), keeps them in an fsync'd outbox in the data directory before it
// counts them as taken, and POSTs each to every endpoint that selects it, signed, retried with
// exponential backoff and jitter until it is acknowledged (2xx) or out of attempts.
//
// What is new is found from the engine's change feed, not by scanning: each executed batch
// names the deposits and withdrawals it wrote, and a round looks only at those, taking the
// history entries whose transactions lie between the outbox's `derivedSeqno` and the store's
// seqno. The outbox holds that one cursor and the pending deliveries, so its size does not grow
// with the number of custody objects. Only a start after the store moved on (a restart) scans
// every object once, skipping those whose newest entry is not new. Delivery is at least once:
// a crash in the middle of a pass that filled the outbox can derive an event twice, with the
// same id.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import path from 'node:path';
import type { Logger } from 'pino';
import {
  backoffDefault,
  backoffMs,
  eventSelected,
  eventsOf,
  eventsPerObjectMax,
  historyCount,
  historyTxIds,
  webhookHeaders,
  webhookSignatureHeader,
  type Backoff,
  type CustodyEvent,
  type WebhookObjectKind,
} from '../custody/webhooks.js';
import { depositsMap, withdrawalsMap } from '../custody/index.js';
import { cofferError } from '../errors/index.js';
import { createFsStorage, replaceFile } from '../ledger/files-storage.js';
import type { Store } from '../ledger/store.js';
import type { Engine } from './engine.js';

/** Deliveries waiting in the outbox (events × endpoints); derivation pauses when full. */
export const webhookDeliveriesMax = 4096;
/** Largest event body; a larger one is sent without its `data` (fetch the record instead). */
export const webhookBodyBytesMax = 16 * 1024;
/** Attempts per delivery before it is given up (logged, counted as dead). */
export const webhookAttemptsMax = 12;
/** One POST, from connect to the end of the answer. */
export const webhookTimeoutMs = 10_000;
/** POSTs in flight at once, and to one endpoint. */
export const webhookInFlightMax: number = 16;
export const webhookInFlightPerEndpointMax: number = 4;
assert(
  webhookInFlightPerEndpointMax < webhookInFlightMax,
  'a slow endpoint cannot take every delivery slot',
);
/** Answer bytes read from a receiver (the rest is dropped). */
export const webhookAnswerBytesMax = 4096;
/** How often committed state is checked for new events. */
export const webhookPollMsDefault = 500;
/** Endpoints per node. */
export const webhookEndpointsMax = 16;

export type WebhookEndpoint = {
  readonly url: string;
  /** HMAC-SHA256 key of the signature header. */
  readonly secret: string;
  /** Event types (`withdrawal.approved`) or kinds (`deposit.*`); absent: every event. */
  readonly events?: readonly string[];
  /** PEM of the CA of an https receiver (default: the system's). */
  readonly ca?: string;
};

export type WebhookDispatcherOptions = {
  /** The outbox lives in `<dataDir>/webhooks/outbox.json`. */
  readonly dataDir: string;
  readonly endpoints: readonly WebhookEndpoint[];
  readonly store: () => Pick<Store, 'read' | 'entries' | 'seqno'>;
  /** The engine's change feed (Engine.onApplied): the keys each executed batch wrote. */
  readonly onApplied: (listener: AppliedListener) => () => void;
  /** Seqno of a committed transaction (Engine.status); undefined when this node does not know it. */
  readonly seqnoOf: (txId: string) => Promise<number | undefined>;
  readonly logger: Logger;
  readonly now?: () => number;
  readonly random?: () => number;
  readonly pollMs?: number;
  readonly backoff?: Backoff;
  readonly attemptsMax?: number;
  readonly timeoutMs?: number;
};

export type WebhookStats = {
  readonly pending: number;
  readonly delivered: number;
  readonly dead: number;
};

export type WebhookDispatcher = {
  /** One round: derive new events, then attempt the deliveries that are due. */
  readonly tick: () => Promise<void>;
  readonly stats: () => WebhookStats;
  readonly stop: () => Promise<void>;
};

type Delivery = {
  readonly url: string;
  readonly eventId: string;
  readonly type: string;
  /** The exact body bytes (the same on every attempt; only the signature's t changes). */
  readonly body: string;
  attempts: number;
  nextAt: number;
};

/** What Engine.onApplied reports: the (map, key) pairs a batch wrote, and its last seqno. */
export type AppliedListener = (
  writes: readonly { readonly map: string; readonly key: string }[],
  seqno: number,
) => void;

type Outbox = {
  readonly v: 2;
  /** Every history entry of a transaction at or below this seqno is in deliveries (or was). */
  derivedSeqno: number;
  deliveries: Delivery[];
  delivered: number;
  dead: number;
};

/** An outbox of the first version: a cursor per object (`<kind>/<id>` → entries taken). */
type OutboxV1 = Omit<Outbox, 'v' | 'derivedSeqno'> & {
  readonly v: 1;
  cursors: Record<string, number>;
};

const kinds: readonly [WebhookObjectKind, string][] = [
  ['deposit', depositsMap],
  ['withdrawal', withdrawalsMap],
];
const kindOfMap = new Map(kinds.map(([kind, map]) => [map, kind]));

/** The outbox, and the per-object cursors of a version 1 file (used once, then dropped). */
async function readOutbox(
  file: string,
): Promise<{ outbox: Outbox; cursors?: Record<string, number> }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { outbox: { v: 2, derivedSeqno: 0, deliveries: [], delivered: 0, dead: 0 } };
    throw error;
  }
  const read = JSON.parse(text) as Partial<Outbox> | Partial<OutboxV1> | null;
  if (read?.v === 1 && Array.isArray(read.deliveries) && typeof read.cursors === 'object') {
    const { cursors, deliveries, delivered, dead } = read as OutboxV1;
    return { outbox: { v: 2, derivedSeqno: 0, deliveries, delivered, dead }, cursors };
  }
  if (
    read?.v !== 2 ||
    !Array.isArray(read.deliveries) ||
    typeof read.derivedSeqno !== 'number' ||
    !Number.isSafeInteger(read.derivedSeqno)
  )
    throw new Error(`webhook outbox ${file} is not a version 2 outbox`);
  return { outbox: read as Outbox };
}

function bodyOf(event: CustodyEvent): string {
  const full = JSON.stringify(event);
  if (Buffer.byteLength(full) <= webhookBodyBytesMax) return full;
  return JSON.stringify({ ...event, data: null });
}

/** POSTs one delivery; resolves to the HTTP status (0: no answer). */
function post(
  endpoint: WebhookEndpoint,
  delivery: Delivery,
  timestampS: number,
  timeoutMs: number,
): Promise<number> {
  return new Promise((resolve) => {
    const url = new URL(endpoint.url);
    const body = Buffer.from(delivery.body, 'utf8');
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(
      url,
      {
        method: 'POST',
        timeout: timeoutMs,
        ...(endpoint.ca === undefined ? {} : { ca: endpoint.ca }),
        headers: {
          'content-type': 'application/json',
          'content-length': body.length,
          [webhookHeaders.signature]: webhookSignatureHeader(
            endpoint.secret,
            timestampS,
            delivery.body,
          ),
          [webhookHeaders.eventId]: delivery.eventId,
          [webhookHeaders.eventType]: delivery.type,
          [webhookHeaders.attempt]: String(delivery.attempts + 1),
        },
      },
      (res) => {
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > webhookAnswerBytesMax) res.destroy();
        });
        res.on('close', () => {
          resolve(res.statusCode ?? 0);
        });
        res.on('error', () => {
          resolve(res.statusCode ?? 0);
        });
      },
    );
    const timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('close', () => {
      clearTimeout(timer);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => {
      clearTimeout(timer);
      resolve(0);
    });
    req.end(body);
  });
}

/** The dispatcher's view of an engine: its store, its change feed, and where a tx landed. */
export function webhookSourceOf(
  engine: Pick<Engine, 'store' | 'onApplied' | 'status'>,
): Pick<WebhookDispatcherOptions, 'store' | 'onApplied' | 'seqnoOf'> {
  return {
    store: () => engine.store(),
    onApplied: engine.onApplied,
    seqnoOf: async (txId) => {
      const status = await engine.status(txId);
      return status.status === 'Committed' || status.status === 'Invalid'
        ? status.seqno
        : undefined;
    },
  };
}

export async function startWebhookDispatcher(
  options: WebhookDispatcherOptions,
): Promise<WebhookDispatcher> {
  if (options.endpoints.length > webhookEndpointsMax)
    throw new Error(`at most ${webhookEndpointsMax} webhook endpoints`);
  const now = options.now ?? Date.now;
  const random = options.random ?? Math.random;
  const backoff = options.backoff ?? backoffDefault;
  const attemptsMax = options.attemptsMax ?? webhookAttemptsMax;
  const timeoutMs = options.timeoutMs ?? webhookTimeoutMs;
  const pollMs = options.pollMs ?? webhookPollMsDefault;
  const endpoints = new Map(options.endpoints.map((endpoint) => [endpoint.url, endpoint]));
  const folder = path.join(options.dataDir, 'webhooks');
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, 'outbox.json');
  const read = await readOutbox(file);
  const outbox = read.outbox;
  let legacyCursors = read.cursors;
  // Deliveries to endpoints no longer configured cannot be sent: drop them (and say so).
  const orphaned = outbox.deliveries.filter((item) => !endpoints.has(item.url));
  if (orphaned.length > 0) {
    options.logger.warn(
      { dropped: orphaned.length, urls: [...new Set(orphaned.map((item) => item.url))] },
      'webhooks: deliveries to endpoints no longer configured are dropped',
    );
    outbox.deliveries = outbox.deliveries.filter((item) => endpoints.has(item.url));
  }
  const storage = createFsStorage();
  const persist = (): Promise<void> =>
    replaceFile(storage, file, Buffer.from(JSON.stringify(outbox), 'utf8'));

  // The engine's feed, at the end of each executed batch (the store then holds exactly that
  // batch, and every transaction in it can be looked up): the deposits and withdrawals it wrote,
  // each with its history count then. In place before the first look at the store, so nothing
  // applied is missed.
  const marks = new Map<string, number>();
  let lastSeqno = 0;
  const unsubscribe = options.onApplied((writes, seqno) => {
    const store = options.store();
    const kv = { get: store.read };
    for (const write of writes) {
      const kind = kindOfMap.get(write.map);
      if (kind !== undefined) marks.set(`${kind}/${write.key}`, historyCount(kv, kind, write.key));
    }
    lastSeqno = seqno;
  });
  /** A start after the store moved past the outbox looks at every object once. */
  let scanAll = options.store().seqno() > outbox.derivedSeqno || legacyCursors !== undefined;

  /**
   * Index of the first history entry in [0, end) whose transaction lies above `seqno`, walking
   * back from `end` (entries are in seqno order). A transaction this node cannot place yet (its
   * batch is still executing) counts as above: the feed reports it when the batch is done.
   */
  const firstAbove = async (
    kv: { get: (map: string, key: string) => string | undefined },
    kind: WebhookObjectKind,
    id: string,
    end: number,
    seqno: number,
  ): Promise<number> => {
    if (seqno === 0) return 0;
    let index = end;
    while (index > 0) {
      const from = Math.max(0, index - eventsPerObjectMax);
      const txIds = historyTxIds(kv, kind, id, from, index);
      for (let i = txIds.length - 1; i >= 0; i -= 1) {
        const at = await options.seqnoOf(txIds[i] ?? '');
        if (at !== undefined && at <= seqno) return from + i + 1;
      }
      index = from;
    }
    return 0;
  };

  /**
   * A pass takes, for each object in its queue, the history entries of transactions in
   * (outbox.derivedSeqno, target], which end at the object's `to`. A full outbox stops it; the
   * next round goes on where it stopped (the head keeps its next entry), and only a finished
   * pass moves derivedSeqno.
   */
  type Item = { readonly key: string; to?: number; from?: number };
  let pass: { readonly target: number; readonly queue: Item[] } | undefined;

  /** New deliveries into the outbox; true when the outbox changed. */
  const derive = async (): Promise<boolean> => {
    const store = options.store();
    if (pass === undefined) {
      if (scanAll) {
        const queue: Item[] = [];
        for (const [kind, map] of kinds)
          for (const [id] of store.entries(map)) queue.push({ key: `${kind}/${id}` });
        pass = { target: Math.max(store.seqno(), lastSeqno), queue };
        scanAll = false;
      } else {
        if (marks.size === 0) return false;
        pass = { target: lastSeqno, queue: [...marks].map(([key, to]) => ({ key, to })) };
      }
      marks.clear();
    }
    const { target, queue } = pass;
    const kv = { get: store.read };
    let added = false;
    while (queue.length > 0) {
      const item = queue[0];
      assert(item !== undefined, 'queue head');
      const slash = item.key.indexOf('/');
      const kind = item.key.slice(0, slash) as WebhookObjectKind;
      const id = item.key.slice(slash + 1);
      item.to ??= await firstAbove(kv, kind, id, historyCount(kv, kind, id), target);
      const to = item.to;
      item.from ??=
        legacyCursors?.[item.key] ?? (await firstAbove(kv, kind, id, to, outbox.derivedSeqno));
      for (let at = item.from; at < to; at += eventsPerObjectMax) {
        const end = Math.min(to, at + eventsPerObjectMax);
        const deliveries: Delivery[] = [];
        for (const event of eventsOf(kv, kind, id, at, end)) {
          const body = bodyOf(event);
          for (const endpoint of endpoints.values()) {
            if (!eventSelected(endpoint.events, event.type)) continue;
            deliveries.push({
              url: endpoint.url,
              eventId: event.id,
              type: event.type,
              body,
              attempts: 0,
              nextAt: 0,
            });
          }
        }
        if (outbox.deliveries.length + deliveries.length > webhookDeliveriesMax) {
          item.from = at; // this object's rest, and the queue after it, wait for room
          return added;
        }
        outbox.deliveries.push(...deliveries);
        added = added || deliveries.length > 0;
      }
      queue.shift();
    }
    outbox.derivedSeqno = Math.max(outbox.derivedSeqno, target);
    legacyCursors = undefined;
    pass = undefined;
    return true;
  };

  // Outbox writes one after another (each a whole, durable file).
  let writes: Promise<void> = Promise.resolve();
  const save = (): Promise<void> => {
    writes = writes.then(persist).catch((error: unknown) => {
      options.logger.error({ error: String(error) }, 'webhooks: outbox write failed');
    });
    return writes;
  };

  /** One attempt; the outcome is saved before the delivery leaves the in-flight set. */
  const attempt = async (delivery: Delivery, endpoint: WebhookEndpoint): Promise<void> => {
    const status = await post(endpoint, delivery, Math.floor(now() / 1000), timeoutMs);
    if (status >= 200 && status < 300) {
      outbox.deliveries = outbox.deliveries.filter((item) => item !== delivery);
      outbox.delivered += 1;
    } else {
      delivery.attempts += 1;
      if (delivery.attempts >= attemptsMax) {
        outbox.deliveries = outbox.deliveries.filter((item) => item !== delivery);
        outbox.dead += 1;
        options.logger.error(
          { url: delivery.url, eventId: delivery.eventId, attempts: delivery.attempts },
          'webhooks: delivery given up after its last attempt',
        );
      } else {
        delivery.nextAt = now() + backoffMs(delivery.attempts, random(), backoff);
        options.logger.warn(
          { url: delivery.url, eventId: delivery.eventId, status, attempts: delivery.attempts },
          'webhooks: delivery failed; retrying later',
        );
      }
    }
    await save();
  };

  // Deliveries run on their own (a slow receiver holds only its own slots, not the rounds).
  const inFlight = new Map<Delivery, Promise<void>>();
  const perEndpoint = new Map<string, number>();
  const deliver = (): void => {
    const at = now();
    for (const delivery of outbox.deliveries) {
      if (inFlight.size >= webhookInFlightMax) return;
      if (delivery.nextAt > at || inFlight.has(delivery)) continue;
      const endpoint = endpoints.get(delivery.url);
      const busy = perEndpoint.get(delivery.url) ?? 0;
      if (endpoint === undefined || busy >= webhookInFlightPerEndpointMax) continue;
      perEndpoint.set(delivery.url, busy + 1);
      const running = attempt(delivery, endpoint).finally(() => {
        inFlight.delete(delivery);
        perEndpoint.set(delivery.url, (perEndpoint.get(delivery.url) ?? 1) - 1);
      });
      inFlight.set(delivery, running);
    }
  };

  let running: Promise<void> = Promise.resolve();
  const tick = (): Promise<void> => {
    running = running.then(async () => {
      if (await derive()) await save();
      deliver();
    });
    return running;
  };

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = (): void => {
    if (stopped) return;
    tick().then(
      () => {
        if (!stopped) timer = setTimeout(loop, pollMs);
      },
      (error: unknown) => {
        options.logger.error({ error: String(error) }, 'webhooks: round failed');
        if (!stopped) timer = setTimeout(loop, pollMs);
      },
    );
  };
  if (endpoints.size > 0) timer = setTimeout(loop, 0);

  return {
    tick,
    stats: () => ({
      pending: outbox.deliveries.length,
      delivered: outbox.delivered,
      dead: outbox.dead,
    }),
    stop: async () => {
      stopped = true;
      unsubscribe();
      clearTimeout(timer);
      await running.catch(() => undefined);
      await Promise.all(inFlight.values());
      await writes;
    },
  };
}

/** A fresh webhook secret (for `coffer` setup scripts and tests): 32 random bytes, hex. */
export function newWebhookSecret(): string {
  return randomBytes(32).toString('hex');
}

/** Shortest secret accepted (characters of the secret file, trimmed). */
export const webhookSecretCharsMin = 32;

/** The endpoints of the node config's `webhooks`, with their secrets (and CAs) read. */
export async function webhookEndpointsOf(
  configs: readonly {
    readonly url: string;
    readonly secretFile: string;
    readonly events?: readonly string[];
    readonly caFile?: string;
  }[],
): Promise<WebhookEndpoint[]> {
  return Promise.all(
    configs.map(async (item) => {
      const secret = (await readFile(item.secretFile, 'utf8')).trim();
      if (secret.length < webhookSecretCharsMin) {
        throw cofferError(
          'CLI_E_USAGE',
          `webhook secret file ${item.secretFile} holds ${secret.length} characters; use at least ${webhookSecretCharsMin} (e.g. openssl rand -hex 32)`,
          { file: item.secretFile },
        );
      }
      return {
        url: item.url,
        secret,
        ...(item.events === undefined ? {} : { events: item.events }),
        ...(item.caFile === undefined ? {} : { ca: await readFile(item.caFile, 'utf8') }),
      };
    }),
  );
}
