// Webhook events of custody (issue 7), the pure part: which deposit and withdrawal state changes
// a committed history makes into events, their stable ids, the signature header receivers
// check, and the retry schedule. The node's dispatcher (src/node/webhooks.ts) does the IO.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { KvView } from '../contracts/index.js';
import { pagedCount, pagedSlice, readJson } from './state.js';
import {
  depositsMap,
  historyMap,
  withdrawalsMap,
  type DepositRecord,
  type HistoryEntry,
  type WithdrawalRecord,
} from './types.js';

/** Objects whose state changes are events. */
export const webhookObjectKinds = ['deposit', 'withdrawal'] as const;
export type WebhookObjectKind = (typeof webhookObjectKinds)[number];

/** Header names of a delivery. */
export const webhookHeaders = {
  signature: 'coffer-signature',
  eventId: 'coffer-event-id',
  eventType: 'coffer-event-type',
  attempt: 'coffer-delivery-attempt',
} as const;

/** Receivers should refuse a signature whose timestamp is further than this from their clock. */
export const webhookToleranceSDefault = 300;
/** History entries turned into events per object per derivation round. */
export const eventsPerObjectMax = 100;

/** One state change of a deposit or a withdrawal, as delivered (the JSON body). */
export type CustodyEvent = {
  /** sha256(txId ‖ kind/objectId ‖ state), hex: the same for every delivery and every node. */
  readonly id: string;
  /** `deposit.<state>` or `withdrawal.<state>`. */
  readonly type: string;
  readonly object: { readonly kind: WebhookObjectKind; readonly id: string };
  readonly walletId: string;
  readonly state: string;
  readonly previousState: string | null;
  /** The transaction that made the change: its receipt proves it (GET /v1/tx/<txId>/receipt). */
  readonly txId: string;
  readonly action: string;
  /** Ledger time of the change (ms). */
  readonly time: number;
  readonly by: string;
  /** The record as it is when the event is derived (it may have moved on since the change). */
  readonly data: DepositRecord | WithdrawalRecord;
};

export function webhookEventId(
  txId: string,
  kind: WebhookObjectKind,
  objectId: string,
  state: string,
): string {
  return createHash('sha256')
    .update(`${txId}\n${kind}/${objectId}\n${state}`, 'utf8')
    .digest('hex');
}

/** Number of history entries of an object (what a dispatcher compares with its cursor). */
export function historyCount(kv: KvView, kind: WebhookObjectKind, objectId: string): number {
  return pagedCount(kv, historyMap, `${kind}/${objectId}`);
}

/** The transaction ids of history entries [from, to) of an object, oldest first. */
export function historyTxIds(
  kv: KvView,
  kind: WebhookObjectKind,
  objectId: string,
  from: number,
  to: number,
): string[] {
  return pagedSlice<HistoryEntry>(kv, historyMap, `${kind}/${objectId}`, from, to).map(
    (entry) => entry.txId,
  );
}

/**
 * Events of history entries [from, to) of an object: one per entry whose state differs from
 * the entry before it (a deposit's confirmations that do not credit it are not events).
 */
export function eventsOf(
  kv: KvView,
  kind: WebhookObjectKind,
  objectId: string,
  from: number,
  to: number,
): CustodyEvent[] {
  const record =
    kind === 'deposit'
      ? readJson<DepositRecord>(kv, depositsMap, objectId)
      : readJson<WithdrawalRecord>(kv, withdrawalsMap, objectId);
  if (record === undefined || to <= from) return [];
  const start = Math.max(0, from - 1);
  const entries = pagedSlice<HistoryEntry>(kv, historyMap, `${kind}/${objectId}`, start, to);
  const events: CustodyEvent[] = [];
  let previous: string | null = null;
  for (const [offset, entry] of entries.entries()) {
    const index = start + offset;
    if (index >= from && entry.state !== previous) {
      events.push({
        id: webhookEventId(entry.txId, kind, objectId, entry.state),
        type: `${kind}.${entry.state}`,
        object: { kind, id: objectId },
        walletId: record.walletId,
        state: entry.state,
        previousState: previous,
        txId: entry.txId,
        action: entry.action,
        time: entry.time,
        by: entry.by,
        data: record,
      });
    }
    previous = entry.state;
  }
  return events;
}

/** Whether an endpoint's `events` filter takes an event type (`withdrawal.*` takes a kind). */
export function eventSelected(filter: readonly string[] | undefined, type: string): boolean {
  if (filter === undefined || filter.length === 0) return true;
  return filter.some((item) =>
    item.endsWith('.*') ? type.startsWith(item.slice(0, -1)) : item === type,
  );
}

function hmacHex(secret: string, timestampS: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestampS}.${body}`, 'utf8').digest('hex');
}

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 over "<t>.<body>">` (Stripe's scheme). */
export function webhookSignatureHeader(secret: string, timestampS: number, body: string): string {
  return `t=${timestampS},v1=${hmacHex(secret, timestampS, body)}`;
}

/**
 * What a receiver runs: the header's timestamp is within `toleranceS` of `nowS` (a replayed
 * old delivery fails) and one of its v1 values is the HMAC of the exact body bytes received.
 */
export function verifyWebhookSignature(
  secret: string,
  header: string,
  body: string,
  nowS: number,
  toleranceS: number = webhookToleranceSDefault,
): boolean {
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.split('=', 2);
    if (key === 't' && value !== undefined && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    if (key === 'v1' && value !== undefined && /^[0-9a-f]{64}$/.test(value)) signatures.push(value);
  }
  if (timestamp === undefined || Math.abs(nowS - timestamp) > toleranceS) return false;
  const expected = Buffer.from(hmacHex(secret, timestamp, body), 'hex');
  return signatures.some((item) => timingSafeEqual(Buffer.from(item, 'hex'), expected));
}

export type Backoff = { readonly baseMs: number; readonly maxMs: number };
export const backoffDefault: Backoff = { baseMs: 1_000, maxMs: 3_600_000 };

/**
 * Delay before retry number `attempt` (1 = after the first failure): exponential, capped,
 * with "equal jitter" from `random01` in [0, 1) so receivers that failed together do not get
 * every retry at once, while a retry never comes sooner than half its step.
 */
export function backoffMs(attempt: number, random01: number, backoff: Backoff = backoffDefault) {
  const step = Math.min(
    backoff.maxMs,
    backoff.baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30),
  );
  return Math.floor(step / 2 + (step / 2) * Math.min(Math.max(random01, 0), 1));
}
