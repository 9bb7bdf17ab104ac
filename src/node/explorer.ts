// The ledger explorer's index (the web console's "Ledger explorer", decision 0026): ledger
// entries decoded into summaries for people, a bounded window of the newest entries and of the
// batches this node executed, and per-second throughput and commit latency. No IO and no clock:
// explorer-routes.ts feeds it the engine's entries and the times it reads. Entries are decoded
// only when asked for (then remembered): at 10,000 transactions a second, keeping them costs a
// slot each, and nobody may be looking.
import assert from 'node:assert/strict';
import { tagBytes, encodeWrites } from '../ledger/secret.js';
import { isPublicMap, keyBytesMax, mapNameBytesMax } from '../ledger/store.js';
import {
  pendingEnvelopesMax,
  recentEntriesBytesMax,
  recentEntriesMax,
  type ExecutedBatch,
  type LedgerLeaf,
} from './engine.js';
import type { BatchSummary, EntrySummary, MetricsPoint } from './explorer-types.js';

// ---- limits ---------------------------------------------------------------------------------

/**
 * Newest ledger entries (transactions and signature entries) kept for listing and for identity
 * and key search. The engine keeps as many for receipts; the entries it executes are shared,
 * not copied (ExecutedTx.leaf).
 */
export const explorerEntriesMax: number = recentEntriesMax;
/** And at most this many bytes of their leaves, as the engine's (entries may be 64 KiB and more). */
export const explorerEntryBytesMax: number = recentEntriesBytesMax;
/** Newest non-empty batches kept (batches are known only from this node executing them). */
export const explorerBatchesMax: number = 1_000;
/** Seconds of throughput and latency kept (the longest chart). */
export const metricsSecondsMax: number = 600;
export const metricsSecondsDefault: number = 120;
/** Accepted submissions waiting for execution, timed for commit latency; the oldest go first. */
export const acceptedTimedMax = pendingEnvelopesMax;
/** Entries, batches or search results in one answer. */
export const explorerPageMax: number = 100;
export const explorerPageDefault: number = 25;
/**
 * Entries an identity or key search decodes before letting other work run (decoding one takes
 * some 10 to 20 µs: a whole window at once would hold the node up for 100 ms or more).
 */
export const searchSliceEntries: number = 500;
/** Longest error message shown in a summary (the full one: GET /v1/tx/:txId). */
export const messageCharsMax: number = 1_024;
/** Longest search: a map name, `/`, a key. */
export const searchCharsMax = mapNameBytesMax + 1 + keyBytesMax;
/**
 * Commit latency histogram: buckets grow by latencyBucketGrowth from latencyBucketMinMs, so a
 * percentile is reported within 10% (the bucket's upper bound); latencyBucketMaxMs and above
 * share the last bucket.
 */
export const latencyBucketMinMs: number = 0.1;
export const latencyBucketMaxMs: number = 120_000;
export const latencyBucketGrowth: number = 1.1;
const latencyBuckets =
  Math.ceil(Math.log(latencyBucketMaxMs / latencyBucketMinMs) / Math.log(latencyBucketGrowth)) + 1;

assert(explorerPageMax <= explorerEntriesMax, 'a page fits in the window');
assert(explorerPageDefault <= explorerPageMax);
assert(metricsSecondsDefault <= metricsSecondsMax);
assert(latencyBuckets > 1 && latencyBuckets <= 512, 'a second of latencies stays small');

export type { BatchSummary, EntrySummary, MetricsPoint } from './explorer-types.js';

// ---- summaries ------------------------------------------------------------------------------

/** A summary and, for search, the public `map/key` pairs the transaction wrote. */
type Decoded = { readonly summary: EntrySummary; readonly keys: readonly string[] };

const hex64 = /^[0-9a-f]{64}$/;
/** Base64 length of an encrypted write set holding no write: encodeWrites([]) and the tag. */
const noPrivateWritesBase64Chars = Math.ceil((encodeWrites([]).byteLength + tagBytes) / 3) * 4;

const record = (value: unknown): Record<string, unknown> | undefined =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
const text = (value: unknown): string | undefined =>
  typeof value === 'string' ? value : undefined;
const integer = (value: unknown): number | undefined =>
  typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;

function parseJson(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString());
  } catch {
    return undefined;
  }
}

/** The request inside an entry's envelope (base64 canonical JSON), if it is readable. */
function requestOf(envelope: unknown): Record<string, unknown> | undefined {
  const request = text(record(envelope)?.['request']);
  return request === undefined ? undefined : record(parseJson(Buffer.from(request, 'base64')));
}

function shortened(message: string): string {
  return message.length <= messageCharsMax ? message : `${message.slice(0, messageCharsMax)}…`;
}

function decodeTx(
  seqno: number,
  entry: Record<string, unknown>,
  batch: { readonly logPosition: number; readonly time: number } | undefined,
): Decoded {
  const request = requestOf(entry['envelope']);
  const txId = text(entry['txId']);
  const app = text(entry['app']) ?? text(request?.['app']);
  const action = text(entry['action']) ?? text(request?.['action']);
  const verified = record(entry['signer']);
  const mspId = text(verified?.['mspId']);
  const identityId = text(verified?.['identityId']);
  const certId = text(record(request?.['signer'])?.['certId']);
  const code = text(entry['code']);
  const message = text(entry['message']);
  const writes = record(entry['writes']);
  const publicWrites = Array.isArray(writes?.['public']) ? (writes['public'] as unknown[]) : [];
  const keys: string[] = [];
  for (const write of publicWrites) {
    if (!Array.isArray(write)) continue;
    const [map, key] = write as unknown[];
    // Only public maps are in clear; the check keeps it so whatever wrote the entry.
    if (typeof map === 'string' && typeof key === 'string' && isPublicMap(map)) {
      keys.push(`${map}/${key}`);
    }
  }
  const privateText = text(writes?.['private']);
  const summary: EntrySummary = {
    seqno,
    kind: 'tx',
    ...(txId === undefined ? {} : { txId }),
    ...(app === undefined ? {} : { app }),
    ...(action === undefined ? {} : { action }),
    ...(mspId === undefined || identityId === undefined || certId === undefined
      ? {}
      : { signer: { mspId, certId, identityId } }),
    status: entry['status'] === 'committed' ? 'Committed' : 'Invalid',
    ...(code === undefined ? {} : { code }),
    ...(message === undefined ? {} : { message: shortened(message) }),
    ...(batch === undefined ? {} : { logPosition: batch.logPosition, time: batch.time }),
    writes: keys.length,
    privateWrites: privateText !== undefined && privateText.length > noPrivateWritesBase64Chars,
  };
  return { summary, keys };
}

/**
 * The summary of one ledger entry as entriesFrom yields it (the leaf JSON the engine writes:
 * engine.ts txEntry, addMarker, writeGenesis). Never throws: an entry it cannot read becomes a
 * bare summary of its kind.
 */
export function decodeEntry(
  leaf: LedgerLeaf,
  batch?: { readonly logPosition: number; readonly time: number },
): Decoded {
  const entry = record(parseJson(leaf.leaf)) ?? {};
  if (leaf.kind === 'signature') {
    const signed = leaf.signedRoot;
    const treeSize = signed?.treeSize ?? integer(entry['treeSize']);
    const root = signed?.root ?? text(entry['root']);
    const signedAt = signed?.signedAt ?? integer(entry['time']);
    const snapshotSeqno = integer(entry['snapshotSeqno']);
    return {
      summary: {
        seqno: leaf.seqno,
        kind: 'signature',
        ...(treeSize === undefined ? {} : { treeSize }),
        ...(root === undefined ? {} : { root }),
        ...(signed === undefined ? {} : { nodeId: signed.nodeId, mspId: signed.mspId }),
        ...(signedAt === undefined ? {} : { signedAt }),
        ...(leaf.logPosition === undefined ? {} : { logPosition: leaf.logPosition }),
        ...(snapshotSeqno === undefined ? {} : { snapshotSeqno }),
      },
      keys: [],
    };
  }
  if (entry['type'] === 'genesis') {
    const writes = record(entry['writes'])?.['public'];
    return {
      summary: {
        seqno: leaf.seqno,
        kind: 'genesis',
        writes: Array.isArray(writes) ? writes.length : 0,
      },
      keys: [],
    };
  }
  return decodeTx(leaf.seqno, entry, batch);
}

// ---- search ---------------------------------------------------------------------------------

export type SearchQuery =
  /** 64 hex: a transaction id (any age), else an identity (certId or identity id). */
  | { readonly kind: 'id'; readonly id: string }
  | { readonly kind: 'identity'; readonly mspId?: string; readonly id?: string }
  | { readonly kind: 'key'; readonly key: string }
  /** A key of a private map: its keys are encrypted in the ledger, so it cannot be searched. */
  | { readonly kind: 'private-key'; readonly map: string }
  | { readonly kind: 'bad'; readonly why: string };

/**
 * What a search means: `<64 hex>` a transaction or an identity; `public:<map>/<key>` a key
 * written; `<MSPID>:<64 hex>` one identity of an MSP; anything else an MSP id. Map names may
 * hold `/`: a key is matched as the whole `map/key` text, never split.
 */
export function parseSearch(query: string): SearchQuery {
  const q = query.trim();
  if (q.length === 0) return { kind: 'bad', why: 'q is empty' };
  if (hex64.test(q.toLowerCase())) return { kind: 'id', id: q.toLowerCase() };
  if (isPublicMap(q)) {
    return q.includes('/')
      ? { kind: 'key', key: q }
      : { kind: 'bad', why: `search a key as <map>/<key> (e.g. ${q}/some-key)` };
  }
  const slash = q.indexOf('/');
  if (slash > 0) return { kind: 'private-key', map: q.slice(0, slash) };
  const colon = q.lastIndexOf(':');
  if (colon > 0) {
    const id = q.slice(colon + 1).toLowerCase();
    if (!hex64.test(id)) {
      return { kind: 'bad', why: 'search an identity as <MSPID>:<64 hex certId or identity id>' };
    }
    return { kind: 'identity', mspId: q.slice(0, colon), id };
  }
  return { kind: 'identity', mspId: q };
}

/** Whether an entry matches an identity or key search (transactions only). */
function matches(query: SearchQuery, decoded: Decoded): boolean {
  const { summary } = decoded;
  if (summary.kind !== 'tx') return false;
  switch (query.kind) {
    case 'id':
      return summary.signer?.certId === query.id || summary.signer?.identityId === query.id;
    case 'identity': {
      const signer = summary.signer;
      if (signer === undefined) return false;
      if (query.mspId !== undefined && signer.mspId !== query.mspId) return false;
      return query.id === undefined || signer.certId === query.id || signer.identityId === query.id;
    }
    case 'key':
      return decoded.keys.includes(query.key);
    default:
      return false;
  }
}

// ---- metrics --------------------------------------------------------------------------------

type Second = {
  t: number;
  committed: number;
  invalid: number;
  samples: number;
  latencies: Uint32Array | undefined;
};

function latencyBucket(ms: number): number {
  if (!(ms > latencyBucketMinMs)) return 0;
  const index = Math.ceil(Math.log(ms / latencyBucketMinMs) / Math.log(latencyBucketGrowth));
  return Math.min(latencyBuckets - 1, index);
}

/** The upper bound of the bucket holding the `fraction` quantile, to 0.01 ms. */
function percentile(latencies: Uint32Array, samples: number, fraction: number): number {
  const rank = Math.max(1, Math.ceil(samples * fraction));
  let seen = 0;
  for (let index = 0; index < latencies.length; index += 1) {
    seen += latencies[index] ?? 0;
    if (seen >= rank) {
      return Math.round(latencyBucketMinMs * latencyBucketGrowth ** index * 100) / 100;
    }
  }
  return latencyBucketMaxMs;
}

// ---- the index ------------------------------------------------------------------------------

/** An entry of the window: its leaf, its batch when seen executed, its decoding once asked. */
type Held = {
  readonly leaf: LedgerLeaf;
  readonly batch?: { readonly logPosition: number; readonly time: number };
  decoded?: Decoded;
};

export type ExplorerIndex = {
  /** This node accepted a submission at `monoMs` (a monotonic clock, ms). */
  readonly accepted: (txId: string, monoMs: number) => void;
  /** This node executed `batch` at `monoMs` (same clock as accepted) and `wallMs` (Unix ms). */
  readonly executed: (batch: ExecutedBatch, monoMs: number, wallMs: number) => void;
  /** An entry read back from the ledger files: kept unless the window holds it or moved past. */
  readonly backfill: (leaf: LedgerLeaf) => void;
  /** The newest seqno held (0 when none). */
  readonly newest: () => number;
  /** The oldest seqno the window covers (newest + 1 when it holds nothing). */
  readonly oldest: () => number;
  /** The summary of `seqno` when the window holds it. */
  readonly entry: (seqno: number) => EntrySummary | undefined;
  /**
   * Newest first, at most `max` transactions held with seqno from..to matching `query`. A slice
   * of the window (searchSliceEntries): the routes yield to other work between slices.
   */
  readonly search: (query: SearchQuery, to: number, from: number, max: number) => EntrySummary[];
  /** Newest first, batches with logPosition < before, at most `limit`. */
  readonly batches: (
    before: number,
    limit: number,
  ) => { readonly batches: BatchSummary[]; readonly next: number | null };
  /** One point per second, oldest first, for the `seconds` seconds up to `wallMs`. */
  readonly metrics: (seconds: number, wallMs: number) => MetricsPoint[];
};

export type ExplorerIndexOptions = {
  /** Entries kept (default and at most explorerEntriesMax); tests use a small window. */
  readonly entriesMax?: number;
  /** Bytes of their leaves kept (default and at most explorerEntryBytesMax). */
  readonly entryBytesMax?: number;
};

export function createExplorerIndex(options: ExplorerIndexOptions = {}): ExplorerIndex {
  const entriesMax = options.entriesMax ?? explorerEntriesMax;
  assert(
    Number.isSafeInteger(entriesMax) && entriesMax >= 1 && entriesMax <= explorerEntriesMax,
    'entriesMax within 1..explorerEntriesMax',
  );
  const entryBytesMax = options.entryBytesMax ?? explorerEntryBytesMax;
  assert(
    Number.isSafeInteger(entryBytesMax) &&
      entryBytesMax >= 1 &&
      entryBytesMax <= explorerEntryBytesMax,
    'entryBytesMax within 1..explorerEntryBytesMax',
  );
  // Slot seqno % entriesMax; a slot holding another seqno is an older entry, not this one.
  const slots: (Held | undefined)[] = new Array<Held | undefined>(entriesMax);
  let newest = 0;
  let oldestPut = Number.POSITIVE_INFINITY;
  // Bytes of the leaves in the slots, and the lowest seqno kept since they passed entryBytesMax.
  let bytes = 0;
  let floor = 1;
  const batchRing: (BatchSummary | undefined)[] = new Array<BatchSummary | undefined>(
    explorerBatchesMax,
  );
  let batchCount = 0;
  const seconds: (Second | undefined)[] = new Array<Second | undefined>(metricsSecondsMax);
  const acceptedAt = new Map<string, number>();

  const windowStart = (): number => Math.max(1, newest - entriesMax + 1, floor);
  const held = (seqno: number): Held | undefined => {
    if (seqno < windowStart() || seqno > newest) return undefined;
    const slot = slots[seqno % entriesMax];
    return slot?.leaf.seqno === seqno ? slot : undefined;
  };
  const put = (item: Held, replace: boolean): void => {
    const { seqno } = item.leaf;
    if (seqno <= newest - entriesMax || seqno < floor) return;
    if (!replace && held(seqno) !== undefined) return;
    const index = seqno % entriesMax;
    bytes += item.leaf.leaf.byteLength - (slots[index]?.leaf.leaf.byteLength ?? 0);
    slots[index] = item;
    newest = Math.max(newest, seqno);
    oldestPut = Math.min(oldestPut, seqno);
    // Past the byte bound, the oldest entries go first (never the newest one). From the start of
    // the window, the walk meets every slot once, older entries left in them included.
    if (bytes > entryBytesMax) floor = Math.max(floor, newest - entriesMax + 1);
    while (bytes > entryBytesMax && floor < newest) {
      const oldest = slots[floor % entriesMax];
      if (oldest !== undefined && oldest.leaf.seqno <= floor) {
        bytes -= oldest.leaf.leaf.byteLength;
        slots[floor % entriesMax] = undefined;
      }
      floor += 1;
    }
  };
  const decoded = (item: Held): Decoded => {
    item.decoded ??= decodeEntry(item.leaf, item.batch);
    return item.decoded;
  };
  const secondAt = (t: number): Second => {
    const index = t % metricsSecondsMax;
    let second = seconds[index];
    if (second?.t !== t) {
      second = { t, committed: 0, invalid: 0, samples: 0, latencies: undefined };
      seconds[index] = second;
    }
    return second;
  };

  return {
    accepted: (txId, monoMs) => {
      if (acceptedAt.size >= acceptedTimedMax) {
        const oldest = acceptedAt.keys().next();
        if (oldest.done !== true) acceptedAt.delete(oldest.value);
      }
      acceptedAt.set(txId, monoMs);
    },
    executed: (batch, monoMs, wallMs) => {
      const second = secondAt(Math.floor(wallMs / 1000));
      const where = { logPosition: batch.logPosition, time: batch.time };
      let invalid = 0;
      for (const tx of batch.transactions) {
        put({ leaf: tx, batch: where }, true);
        if (tx.committed) second.committed += 1;
        else {
          second.invalid += 1;
          invalid += 1;
        }
        const at = tx.txId === null ? undefined : acceptedAt.get(tx.txId);
        if (tx.txId !== null && at !== undefined) {
          acceptedAt.delete(tx.txId);
          second.latencies ??= new Uint32Array(latencyBuckets);
          const bucket = latencyBucket(monoMs - at);
          second.latencies[bucket] = (second.latencies[bucket] ?? 0) + 1;
          second.samples += 1;
        }
      }
      const first = batch.transactions[0];
      const last = batch.transactions.at(-1);
      if (first !== undefined && last !== undefined) {
        batchRing[batchCount % explorerBatchesMax] = {
          logPosition: batch.logPosition,
          time: batch.time,
          firstSeqno: first.seqno,
          lastSeqno: last.seqno,
          transactions: batch.transactions.length,
          invalid,
        };
        batchCount += 1;
      }
      if (batch.signature !== undefined) put({ leaf: batch.signature }, true);
    },
    backfill: (leaf) => {
      put({ leaf }, false);
    },
    newest: () => newest,
    oldest: () => (newest === 0 ? 1 : Math.max(windowStart(), oldestPut)),
    entry: (seqno) => {
      const item = held(seqno);
      return item === undefined ? undefined : decoded(item).summary;
    },
    search: (query, to, from, max) => {
      const results: EntrySummary[] = [];
      for (let seqno = to; seqno >= from && results.length < max; seqno -= 1) {
        const item = held(seqno);
        if (item === undefined) continue;
        const entry = decoded(item);
        if (matches(query, entry)) results.push(entry.summary);
      }
      return results;
    },
    batches: (before, limit) => {
      const out: BatchSummary[] = [];
      const kept = Math.min(batchCount, explorerBatchesMax);
      for (let back = 1; back <= kept; back += 1) {
        const batch = batchRing[(batchCount - back) % explorerBatchesMax];
        if (batch === undefined || batch.logPosition >= before) continue;
        if (out.length === limit)
          return { batches: out, next: (out.at(-1) as BatchSummary).logPosition };
        out.push(batch);
      }
      return { batches: out, next: null };
    },
    metrics: (count, wallMs) => {
      assert(Number.isSafeInteger(count) && count >= 1 && count <= metricsSecondsMax);
      const now = Math.floor(wallMs / 1000);
      const points: MetricsPoint[] = [];
      for (let t = now - count + 1; t <= now; t += 1) {
        const second = seconds[t % metricsSecondsMax];
        const known = second?.t === t ? second : undefined;
        const latencies = known?.latencies;
        points.push({
          t,
          committed: known?.committed ?? 0,
          invalid: known?.invalid ?? 0,
          commitLatencyP50Ms:
            latencies === undefined || known === undefined
              ? null
              : percentile(latencies, known.samples, 0.5),
          commitLatencyP99Ms:
            latencies === undefined || known === undefined
              ? null
              : percentile(latencies, known.samples, 0.99),
        });
      }
      return points;
    },
  };
}
