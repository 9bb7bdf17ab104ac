// The OrderingLog on an etcd cluster (decision 0011).
//
// Appending puts the batch under a key unique to this append (`<prefix>/batches/<node>/<session>/
// <n>`), in a transaction that only creates the key: a retried attempt can never order the batch
// twice. The global order is the etcd revision order of those puts. Every node watches the batch
// prefix from the revision after the last one it mirrored and writes each batch, in order, into
// a local embedded log (its mirror, fsync'd), wrapped with its revision; positions are counted
// over batch puts, so they are the same on every node. Reads, the committed position and commit
// notifications come from the mirror; an append resolves once this node's mirror holds it.
//
// Nodes publish their mirrored position; a retention task deletes and compacts what every
// active node holds (etcd-retention.ts). A node whose resume revision was compacted reports
// ORDERING_E_COMPACTED and waits for installFromPeer instead of skipping anything.
import { AssertionError, ok as assert } from 'node:assert';
import { X509Certificate, createPrivateKey, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { ConsecutiveBreaker, circuitBreaker, handleWhen, noop, retry } from 'cockatiel';
import {
  Etcd3,
  GRPCDeadlineExceededError,
  GRPCUnavailableError,
  type IKeyValue,
  type IOptions,
  type IWatchRequest,
  type IWatchResponse,
} from 'etcd3';
import { cofferError, isCofferError, type CofferError } from '../errors/index.js';
import {
  openEmbeddedLog,
  type EmbeddedLog,
  type EmbeddedLogOptions,
  type OrderingLogger,
} from './embedded.js';
import {
  appendRetryMs,
  spaceHighRatio,
  spaceLowRatio,
  spaceGrowthPerByteSent,
  spaceReportLagMs,
  defragFreeRatio,
  defragTimeoutMs,
  deleteOpsPerTxn,
  etcdBatchBytesMax,
  etcdClientMessageBytesMax,
  etcdMaxRequestBytes,
  installBatchesMax,
  mirrorChunkBatchesMax,
  mirrorHeaderBytes,
  resolveEtcdLimits,
  retentionDeleteKeysMax,
  watchRetryMsMax,
  watchRetryMsMin,
  type EtcdLimitOptions,
} from './etcd-limits.js';
import {
  decodeMirrorRecord,
  encodeMirrorRecord,
  mirrorEntriesProblem,
  type MirrorEntry,
} from './etcd-mirror.js';
import {
  compactionTarget,
  parseDurableRecord,
  parseRetentionRecord,
  retentionBase,
  shouldCompact,
  type DurableRecord,
  type RetentionRecord,
} from './etcd-retention.js';
import type { LogEntry, LogHealth, OrderingLog } from './types.js';

export type { MirrorEntry } from './etcd-mirror.js';
export type { DurableRecord, RetentionRecord } from './etcd-retention.js';

/** This node's TLS identity towards etcd, all PEM text. */
export type EtcdTls = {
  /** The organisations' TLS CA certificates etcd's certificates chain to. */
  readonly caPem: string;
  /** The node's TLS certificate (client auth) and its private key. */
  readonly certPem: string;
  readonly keyPem: string;
};

export type EtcdLogOptions = EtcdLimitOptions & {
  /** Folder of the local mirror (an embedded log). */
  readonly mirrorDir: string;
  /** Client URLs of the etcd members, `https://host:port`. */
  readonly endpoints: readonly string[];
  readonly tls: EtcdTls;
  /** Key prefix of this network in etcd, e.g. `/coffer/net1` (no trailing slash). */
  readonly prefix: string;
  /** This node's id: part of its batch keys and the name of its durable record. */
  readonly nodeId: string;
  readonly logger?: OrderingLogger;
  /** Wall clock in ms since the epoch (default Date.now), for health and published records. */
  readonly now?: () => number;
  /** Run the retention task on this node (default true; any node may run it). */
  readonly retention?: boolean;
  /**
   * Retention deletes and compacts only while at least this many nodes (this one included) are
   * active (default 1). A network sets its majority, so that whatever etcd forgets is held by a
   * majority of nodes, whose signatures a node catching up from a peer needs. A function is
   * asked at every round (governance may admit or retire nodes).
   */
  readonly retentionNodesMin?: number | (() => number);
  /**
   * Options of the embedded mirror (fsync off only in benchmarks; firstPosition for a node that
   * joined from a snapshot: its mirror starts after the snapshot's position).
   */
  readonly mirror?: Pick<EmbeddedLogOptions, 'fsync' | 'storage' | 'firstPosition'>;
};

export type EtcdMemberStatus = {
  readonly endpoint: string;
  /** Member id (hex) and name, when the member answered. */
  readonly id?: string;
  readonly name?: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly isLeader?: boolean;
  readonly dbSizeBytes?: number;
  readonly dbSizeInUseBytes?: number;
  readonly raftTerm?: number;
  readonly raftIndex?: number;
  readonly version?: string;
};

export type EtcdNodeStatus = DurableRecord & {
  /** Whether this node's retention task counts it as active (undefined: not observed yet). */
  readonly active?: boolean;
};

export type EtcdLogStatus = {
  readonly nodeId: string;
  readonly health: LogHealth;
  /** What this node's mirror holds. */
  readonly mirror: { readonly position: number; readonly revision: number };
  /** The member this node's watch uses now. */
  readonly watchEndpoint: string;
  readonly leader?: { readonly id: string; readonly name: string };
  readonly members: readonly EtcdMemberStatus[];
  readonly alarms: readonly { readonly memberId: string; readonly alarm: string }[];
  readonly retention?: RetentionRecord;
  /** Durable positions every node published. */
  readonly nodes: readonly EtcdNodeStatus[];
  /** Errors met while gathering this status (the rest is still filled in). */
  readonly errors: readonly string[];
};

export type RetentionOutcome = {
  /** Batch keys deleted. */
  readonly deleted: number;
  /** Revision etcd was compacted at by this round, if it compacted. */
  readonly compactedAt?: number;
  /** Members defragmented, and NOSPACE alarms disarmed. */
  readonly defragmented: readonly string[];
  readonly disarmed: number;
};

export type EtcdLog = OrderingLog & {
  /** Mirror entries with their etcd revisions (what a peer serves for installFromPeer). */
  readonly readMirror: (from: number, max: number) => Promise<readonly MirrorEntry[]>;
  /**
   * While health() is ORDERING_E_COMPACTED: appends entries fetched from a peer (positions from
   * committedPosition() + 1, revisions increasing) to the mirror, then follows etcd again once
   * the gap is closed. Resolves with the new committed position. Checking the entries' content
   * (signature entries) is the caller's job.
   */
  readonly installFromPeer: (entries: readonly MirrorEntry[]) => Promise<number>;
  /** etcd revision of the last mirrored batch (0 when empty). */
  readonly mirroredRevision: () => number;
  /** etcd health, leader, members' database sizes, alarms, and every node's durable position. */
  readonly status: () => Promise<EtcdLogStatus>;
  /** Runs one retention round now (the task also runs every retentionIntervalMs). */
  readonly runRetention: () => Promise<RetentionOutcome>;
};

type PendingAppend = {
  readonly key: string;
  readonly bytes: number;
  readonly startedAt: number;
  readonly resolve: (position: number) => void;
  readonly reject: (error: CofferError) => void;
  readonly done: Promise<unknown>;
  settled: boolean;
  /** Known once etcd confirmed the put (or that the key already existed). */
  ordered: boolean;
  revision: number | undefined;
  timer: NodeJS.Timeout | undefined;
};

type Trouble = { readonly since: number; readonly error: CofferError };

type WatchedBatch = { readonly revision: number; readonly key: string; readonly value: Buffer };

type WatchOutcome =
  | { readonly kind: 'stopped' | 'stall' | 'mirror-failed' }
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'compacted'; readonly compactRevision: number }
  | { readonly kind: 'unexpected'; readonly error: CofferError };

/** The grpc-js duplex stream etcd3 hands out (its declared type omits flow control). */
type WatchStream = {
  write: (request: IWatchRequest) => boolean;
  cancel: () => void;
  pause: () => void;
  resume: () => void;
  on: {
    (event: 'data', listener: (response: IWatchResponse) => void): WatchStream;
    (event: 'error', listener: (error: Error) => void): WatchStream;
    (event: 'end', listener: () => void): WatchStream;
  };
  removeAllListeners: () => WatchStream;
};

type ActiveWatch = {
  /** Highest revision the stream has shown this node (events or progress). */
  seen: number;
  /** The stream is paused or the mirror has buffered batches to write: slow, not stalled. */
  busy: () => boolean;
  readonly finish: (outcome: WatchOutcome) => void;
  readonly requestProgress: () => void;
};

const silentLogger: OrderingLogger = { info: noopLog, warn: noopLog, error: noopLog };
const nodeIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const prefixPattern = /^[A-Za-z0-9._\-/]{1,128}$/;
const abandonedKeysMax = 1024;
/** Samples of bytes sent kept for the space estimate (one a probe: seconds, past spaceReportLagMs). */
const sentSamplesMax = 16;

function noopLog(): void {
  // deliberately empty
}

/**
 * Opens the mirror in `options.mirrorDir` and starts following etcd. Resolves without waiting
 * for etcd: reads work at once, and health() says when appends cannot be ordered.
 */
export async function openEtcdLog(options: EtcdLogOptions): Promise<EtcdLog> {
  const resolved = resolveEtcdLimits(options);
  if (!resolved.ok) throw resolved.error;
  const limits = resolved.value;
  checkIdentity(options);
  const nodesMinOption = options.retentionNodesMin ?? 1;
  const retentionNodesMin = (): number => {
    const value = typeof nodesMinOption === 'function' ? nodesMinOption() : nodesMinOption;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw cofferError('ORDERING_E_CONFIG', 'retentionNodesMin must be a positive integer', {
        field: 'retentionNodesMin',
        value,
      });
    }
    return value;
  };
  retentionNodesMin(); // a bad number is refused at open
  const credentials = checkTls(options.tls);
  const endpoints = checkEndpoints(options.endpoints);
  const logger = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  const mono = (): number => performance.now();

  const batchesPrefix = `${options.prefix}/batches/`;
  const durablePrefix = `${options.prefix}/durable/`;
  const durableKey = `${durablePrefix}${options.nodeId}`;
  const retentionKey = `${options.prefix}/retention`;
  const healthKey = `${options.prefix}/health`;
  const session = randomBytes(8).toString('hex');
  let counter = 0;

  const mirror: EmbeddedLog = await openEmbeddedLog(options.mirrorDir, {
    ...options.mirror,
    logger,
    now,
    batchBytesMax: etcdBatchBytesMax + mirrorHeaderBytes,
  });
  let mirrored = { position: mirror.committedPosition(), revision: 0 };
  if (mirrored.position > 0) {
    const [last] = await mirror.read(mirrored.position, 1);
    assert(last !== undefined, 'the mirror reads its committed tail');
    const decoded = decodeMirrorRecord(last.batch, last.position);
    if (!decoded.ok) {
      await mirror.close();
      throw decoded.error;
    }
    mirrored = { position: mirrored.position, revision: decoded.revision };
  }
  /** The watch may resume here even if it is above mirrored.revision + 1 (retention record). */
  let resumeFloor = 0;

  const grpcOptions = {
    'grpc.max_receive_message_length': etcdClientMessageBytesMax,
    'grpc.max_send_message_length': etcdClientMessageBytesMax,
    'grpc.keepalive_time_ms': 10_000,
    'grpc.keepalive_timeout_ms': 5_000,
  };
  // etcd3's own policies count every "recoverable" error against a member, NOSPACE included,
  // and then block the calls that would free space. Here only a member that cannot be reached
  // (UNAVAILABLE, or no answer in time) is skipped for a second and the call tried on another.
  const memberBreaker = () =>
    circuitBreaker(handleWhen(unreachable), {
      halfOpenAfter: 1_000,
      breaker: new ConsecutiveBreaker(3),
    });
  const clientOptions = (hosts: readonly string[], retries: boolean): IOptions => ({
    hosts: [...hosts],
    credentials,
    grpcOptions,
    dialTimeout: limits.callTimeoutMs,
    // A deadline per attempt (not per call), so a frozen member costs one attempt only. Every
    // write Coffer makes is idempotent (create-only appends, compare-guarded records), so an
    // attempt that timed out may be repeated on another member.
    defaultCallOptions: (context) =>
      context.isStream ? {} : { deadline: Date.now() + limits.callTimeoutMs },
    faultHandling: {
      host: memberBreaker,
      global: retries ? retry(handleWhen(unreachable), { maxAttempts: hosts.length }) : noop,
    },
  });
  const etcd = new Etcd3(clientOptions(endpoints, true));
  // Appends make one attempt per call (their own loop retries): etcd3's retries inside a call
  // would hide whether an earlier attempt may have been applied.
  const appendEtcd = new Etcd3(clientOptions(endpoints, false));
  // The watch stream has its own channels (etcd3 closes a member's channels after some call
  // errors, which would cut the stream for an unrelated failed call), on one member at a time:
  // after an error or a stall it moves to the next member, so a frozen one is left for good.
  const watchClients = new Map<string, Etcd3>();
  let watchIndex = (randomBytes(1)[0] ?? 0) % endpoints.length;
  const watchEndpoint = (): string => endpoints[watchIndex] ?? endpoints[0] ?? '';
  const watchClient = (endpoint: string): Etcd3 => {
    let client = watchClients.get(endpoint);
    if (client === undefined) {
      client = new Etcd3({
        ...clientOptions([endpoint], false),
        faultHandling: { global: noop, host: () => noop },
      });
      watchClients.set(endpoint, client);
    }
    return client;
  };
  /** One client per member, for per-member calls (status, defragment). */
  const memberClients = new Map<string, Etcd3>();
  const memberClient = (endpoint: string): Etcd3 => {
    let client = memberClients.get(endpoint);
    if (client === undefined) {
      client = new Etcd3({
        ...clientOptions([endpoint], false),
        faultHandling: { global: noop, host: () => noop },
      });
      memberClients.set(endpoint, client);
    }
    return client;
  };

  // --- health -----------------------------------------------------------------------------
  let failed: Trouble | undefined;
  let behind: Trouble | undefined;
  let unavailable: Trouble | undefined;
  let nospace: Trouble | undefined;
  /** A member's database is above spaceHighRatio of the quota (Coffer's own, softer alarm). */
  let nearQuota: Trouble | undefined;
  let lastContactAt = mono();

  const contactOk = (): void => {
    lastContactAt = mono();
    if (unavailable !== undefined) {
      unavailable = undefined;
      logger.info({ nodeId: options.nodeId }, 'etcd ordering: etcd answers again; appends resume');
    }
  };
  const contactFailed = (error: unknown): void => {
    if (unavailable !== undefined || mono() - lastContactAt < limits.unavailableAfterMs) return;
    unavailable = {
      since: now(),
      error: cofferError(
        'ORDERING_E_UNAVAILABLE',
        `cannot order writes: no answer from etcd (${endpoints.join(', ')}) for ${Math.round(mono() - lastContactAt)} ms: ${messageOf(error)}; reads still work`,
        { endpoints: [...endpoints], retryable: true, retryAfterMs: limits.healthIntervalMs },
        error,
      ),
    };
    logger.error({ nodeId: options.nodeId }, unavailable.error.message);
  };
  const enterNoSpace = (error: unknown): void => {
    if (nospace !== undefined) return;
    nospace = {
      since: now(),
      error: cofferError(
        'ORDERING_E_ETCD_NOSPACE',
        `etcd is out of space (NOSPACE alarm: ${messageOf(error)}); appends are refused until retention frees space and disarms it`,
        { retryable: true, retryAfterMs: limits.retentionIntervalMs },
        error,
      ),
    };
    logger.error({ nodeId: options.nodeId }, nospace.error.message);
  };
  const fail = (error: CofferError): void => {
    if (failed !== undefined) return;
    failed = { since: now(), error };
    logger.error({ nodeId: options.nodeId, ...error.details }, error.message);
  };

  const health = (): LogHealth => {
    if (failed !== undefined) return { state: 'failed', ...failed };
    const local = mirror.health();
    if (local !== 'ok') return local;
    if (behind !== undefined) return { state: 'behind', ...behind };
    if (unavailable !== undefined) return { state: 'unavailable', ...unavailable };
    if (nospace !== undefined) return { state: 'unavailable', ...nospace };
    if (nearQuota !== undefined) return { state: 'unavailable', ...nearQuota };
    return 'ok';
  };

  // --- lifecycle helpers ------------------------------------------------------------------
  let closed = false;
  let stopped = false;
  let closing: Promise<void> | undefined;
  // Read through a call: they change while a loop awaits, which narrowing cannot see.
  const isStopped = (): boolean => stopped;
  /** installFromPeer is writing to the mirror (the follower and the re-check keep off it). */
  let installing = false;
  const isInstalling = (): boolean => installing;
  const sleepers = new Set<() => void>();
  /** Waits `ms`, or less if the log stops or `wake()` is called. */
  const nap = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        sleepers.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      sleepers.add(done);
    });
  const wake = (): void => {
    for (const sleeper of [...sleepers]) sleeper();
  };

  // --- appends ----------------------------------------------------------------------------
  const pending = new Map<string, PendingAppend>();
  let pendingBytes = 0;
  const abandoned = new Set<string>();

  const settle = (entry: PendingAppend): void => {
    entry.settled = true;
    clearTimeout(entry.timer);
    pending.delete(entry.key);
    pendingBytes -= entry.bytes;
  };

  const timeOut = (entry: PendingAppend): void => {
    if (entry.settled) return;
    settle(entry);
    abandoned.add(entry.key);
    if (abandoned.size > abandonedKeysMax) {
      const [oldest] = abandoned;
      if (oldest !== undefined) abandoned.delete(oldest);
    }
    entry.reject(
      cofferError(
        'ORDERING_E_OUTCOME_UNKNOWN',
        entry.ordered
          ? `the batch was ordered by etcd (revision ${String(entry.revision)}) but is not in this node's mirror after ${limits.appendTimeoutMs} ms; it will execute at its position`
          : `no answer from etcd for this append within ${limits.appendTimeoutMs} ms; the batch may still be ordered`,
        {
          ordered: entry.ordered,
          revision: entry.revision ?? null,
          key: entry.key,
          appendTimeoutMs: limits.appendTimeoutMs,
          retryable: false,
        },
      ),
    );
  };

  const sendAppend = async (entry: PendingAppend, value: Buffer): Promise<void> => {
    const key = Buffer.from(entry.key);
    for (let attempt = 1; !entry.settled; attempt += 1) {
      try {
        // Create-only: if an earlier attempt landed, this one changes nothing and says so.
        const response = await appendEtcd.kv.txn({
          compare: [{ key, target: 'Create', result: 'Equal', create_revision: 0 }],
          success: [{ request_put: { key, value } }],
          failure: [{ request_range: { key, keys_only: true } }],
        });
        contactOk();
        const existing = response.responses[0]?.response_range.kvs[0];
        entry.ordered = true;
        entry.revision = response.succeeded
          ? Number(response.header.revision)
          : existing === undefined
            ? undefined
            : Number(existing.mod_revision);
        return;
      } catch (error) {
        rethrowBug(error);
        if (attempt === 1 && isTooLarge(error)) {
          // etcd refused it before ordering: its --max-request-bytes is below Coffer's batches.
          contactOk();
          settle(entry);
          entry.reject(
            cofferError(
              'ORDERING_E_BATCH_TOO_LARGE',
              `etcd refused a batch of ${entry.bytes} bytes as too large: start its members with --max-request-bytes=${etcdMaxRequestBytes} (Coffer's batches go up to ${etcdBatchBytesMax} bytes)`,
              { bytes: entry.bytes, etcdMaxRequestBytes },
              error,
            ),
          );
          return;
        }
        if (isNoSpace(error)) {
          contactOk(); // etcd answered
          enterNoSpace(error);
          if (attempt === 1 && !isSettled(entry)) {
            // The only attempt was refused, not applied: certainly not ordered.
            settle(entry);
            entry.reject(nospace?.error ?? noSpaceError(error));
            return;
          }
        } else {
          contactFailed(error);
        }
        if (!isSettled(entry) && !isStopped()) await nap(appendRetryMs);
        if (isStopped()) return;
      }
    }
  };

  const append = (batch: Uint8Array): Promise<number> => {
    if (closed) return Promise.reject(closedError(options.mirrorDir));
    if (batch.byteLength > limits.batchBytesMax) {
      return Promise.reject(
        cofferError(
          'ORDERING_E_BATCH_TOO_LARGE',
          `a batch of ${batch.byteLength} bytes is larger than batchBytesMax (${limits.batchBytesMax})`,
          { bytes: batch.byteLength, batchBytesMax: limits.batchBytesMax },
        ),
      );
    }
    const current = health();
    if (current !== 'ok') return Promise.reject(current.error);
    const estimate = estimatedLargest(batch.byteLength);
    if (estimate >= limits.quotaBackendBytes * spaceHighRatio) {
      nearQuota = nearQuotaError(estimate, true);
      logger.error({ nodeId: options.nodeId }, nearQuota.error.message);
      return Promise.reject(nearQuota.error);
    }
    if (
      pending.size >= limits.pendingAppendsMax ||
      pendingBytes + batch.byteLength > limits.pendingBytesMax
    ) {
      const retryAfterMs = 50;
      return Promise.reject(
        cofferError(
          'ORDERING_E_BACKPRESSURE',
          `${pending.size} appends (${pendingBytes} bytes) already wait for etcd and the mirror; retry in ${retryAfterMs} ms`,
          {
            retryAfterMs,
            retryable: true,
            pendingBatches: pending.size,
            pendingBytes,
            pendingBatchesMax: limits.pendingAppendsMax,
            pendingBytesMax: limits.pendingBytesMax,
          },
        ),
      );
    }
    const key = `${batchesPrefix}${options.nodeId}/${session}/${String(counter)}`;
    counter += 1;
    let resolveAppend: (position: number) => void = noopLog;
    let rejectAppend: (error: CofferError) => void = noopLog;
    const promise = new Promise<number>((resolve, reject) => {
      resolveAppend = resolve;
      rejectAppend = reject;
    });
    const entry: PendingAppend = {
      key,
      bytes: batch.byteLength,
      startedAt: mono(),
      resolve: resolveAppend,
      reject: rejectAppend,
      done: promise.catch(noopLog),
      settled: false,
      ordered: false,
      revision: undefined,
      timer: undefined,
    };
    entry.timer = setTimeout(() => {
      timeOut(entry);
    }, limits.appendTimeoutMs);
    pending.set(key, entry);
    pendingBytes += entry.bytes;
    bytesSent += entry.bytes;
    void sendAppend(entry, Buffer.from(batch.buffer, batch.byteOffset, batch.byteLength));
    return promise;
  };

  /** A batch reached the mirror at `position`: resolve its append if it is this node's. */
  const mirroredBatch = (key: string, position: number): void => {
    const entry = pending.get(key);
    if (entry !== undefined) {
      settle(entry);
      entry.resolve(position);
    } else if (abandoned.delete(key)) {
      logger.warn(
        { nodeId: options.nodeId, key, position },
        `etcd ordering: a batch whose append timed out was ordered at position ${position}`,
      );
    }
  };

  // --- the mirror writer --------------------------------------------------------------------
  /** Writes batches to the mirror in order (one group commit); false if the mirror failed. */
  const writeMirror = async (batches: readonly WatchedBatch[]): Promise<boolean> => {
    const results = await Promise.allSettled(
      batches.map((batch) => mirror.append(encodeMirrorRecord(batch.revision, batch.value))),
    );
    for (const [i, result] of results.entries()) {
      const batch = batches[i];
      assert(batch !== undefined, 'one result per batch');
      if (result.status === 'rejected') {
        rethrowBug(result.reason);
        logger.error(
          { nodeId: options.nodeId, revision: batch.revision },
          `etcd ordering: the mirror refused a batch (${messageOf(result.reason)}); following stops until it is healthy`,
        );
        return false;
      }
      assert(result.value === mirrored.position + 1, 'the mirror takes positions in etcd order');
      assert(batch.revision > mirrored.revision, 'mirrored revisions increase');
      mirrored = { position: result.value, revision: batch.revision };
      mirroredBatch(batch.key, result.value);
    }
    return true;
  };

  // --- following etcd -----------------------------------------------------------------------
  let activeWatch: ActiveWatch | undefined;
  /** A revision the cluster had, with when the watch was first seen below it. */
  let stallCheck: { readonly revision: number; readonly since: number } | undefined;

  const watchOnce = async (start: number): Promise<WatchOutcome> => {
    let stream: WatchStream;
    try {
      stream = (await watchClient(watchEndpoint()).watchClient.watch()) as unknown as WatchStream;
    } catch (error) {
      rethrowBug(error);
      return { kind: 'error', error };
    }
    return new Promise<WatchOutcome>((resolveWatch) => {
      const buffer: WatchedBatch[] = [];
      let bufferBytes = 0;
      let paused = false;
      let writer: Promise<void> | undefined;
      let finished = false;
      let lastQueued = start - 1;

      const finish = (outcome: WatchOutcome): void => {
        if (finished) return;
        finished = true;
        if (activeWatch === watch) activeWatch = undefined;
        stream.removeAllListeners();
        stream.on('error', noopLog);
        stream.cancel();
        buffer.length = 0;
        bufferBytes = 0;
        void (writer ?? Promise.resolve()).then(() => {
          resolveWatch(outcome);
        });
      };

      const drain = async (): Promise<void> => {
        while (buffer.length > 0 && !finished) {
          const chunk = buffer.splice(0, mirrorChunkBatchesMax);
          for (const batch of chunk) bufferBytes -= batch.value.byteLength;
          if (!(await writeMirror(chunk))) {
            finish({ kind: 'mirror-failed' });
            return;
          }
          if (
            paused &&
            buffer.length * 2 < limits.watchBufferBatchesMax &&
            bufferBytes * 2 < limits.watchBufferBytesMax
          ) {
            paused = false;
            stream.resume();
          }
        }
      };
      const kick = (): void => {
        if (writer !== undefined || finished) return;
        writer = drain()
          .catch((error: unknown) => {
            // Only our bugs get here (writeMirror handles the mirror's errors): crash loudly.
            queueMicrotask(() => {
              throw error;
            });
          })
          .finally(() => {
            writer = undefined;
            if (buffer.length > 0) kick();
          });
      };

      const watch: ActiveWatch = {
        seen: start - 1,
        busy: () => paused || buffer.length > 0 || writer !== undefined,
        finish,
        requestProgress: () => {
          if (!finished) stream.write({ progress_request: {} });
        },
      };
      activeWatch = watch;

      stream.on('data', (response: IWatchResponse) => {
        if (finished) return;
        const compactRevision = Number(response.compact_revision);
        if (response.canceled || compactRevision > 0) {
          finish(
            compactRevision > 0
              ? { kind: 'compacted', compactRevision }
              : { kind: 'error', error: new Error(`watch canceled: ${response.cancel_reason}`) },
          );
          return;
        }
        if (response.created) return;
        const headerRevision = Number(response.header.revision);
        if (response.events.length === 0) {
          // A progress notification: every event up to the header revision was sent.
          if (!response.fragment) watch.seen = Math.max(watch.seen, headerRevision);
          return;
        }
        for (const event of response.events) {
          if (event.type !== 'Put') continue;
          const problem = checkEvent(event.kv, lastQueued);
          if (problem !== undefined) {
            finish({ kind: 'unexpected', error: problem });
            return;
          }
          lastQueued = Number(event.kv.mod_revision);
          buffer.push({
            revision: lastQueued,
            key: event.kv.key.toString('utf8'),
            value: event.kv.value,
          });
          bufferBytes += event.kv.value.byteLength;
        }
        watch.seen = Math.max(watch.seen, lastQueued);
        if (
          !paused &&
          (buffer.length >= limits.watchBufferBatchesMax ||
            bufferBytes >= limits.watchBufferBytesMax)
        ) {
          paused = true;
          stream.pause();
        }
        kick();
      });
      stream.on('error', (error) => {
        finish({ kind: 'error', error });
      });
      stream.on('end', () => {
        finish({ kind: 'error', error: new Error('the etcd watch stream ended') });
      });
      stream.write({
        create_request: {
          key: Buffer.from(batchesPrefix),
          range_end: prefixEnd(batchesPrefix),
          start_revision: start,
          progress_notify: true,
          filters: ['Nodelete'],
          // Responses above etcd's request limit come in fragments, so none exceeds our
          // message limit however far behind the watch starts.
          fragment: true,
        },
      });
    });
  };

  /** Why a watched put breaks the ordering rules, or undefined. */
  const checkEvent = (kv: IKeyValue, lastQueued: number): CofferError | undefined => {
    const revision = Number(kv.mod_revision);
    const key = kv.key.toString('utf8');
    const reason = !Number.isSafeInteger(revision)
      ? `revision ${kv.mod_revision} is not a safe integer`
      : revision <= lastQueued
        ? `revision ${revision} does not come after ${lastQueued} (two batches at one revision, or revisions going back)`
        : !key.startsWith(batchesPrefix)
          ? 'the key is outside the batch prefix'
          : kv.value.byteLength > etcdBatchBytesMax
            ? `${kv.value.byteLength} bytes, above ${etcdBatchBytesMax}`
            : undefined;
    return reason === undefined
      ? undefined
      : cofferError(
          'ORDERING_E_ETCD_UNEXPECTED',
          `etcd delivered a batch that breaks the ordering rules at key ${key}: ${reason}; this node stops following`,
          { key, revision: kv.mod_revision, lastRevision: lastQueued },
        );
  };

  /**
   * Mirrors the batches with revisions in [from, to) from etcd's current keys, read at revision
   * `to` (a snapshot no later delete can change), each page checked against the positions
   * nodes published before it is written. True when done; false when following must stop.
   */
  const fillFromKeys = async (from: number, to: number): Promise<boolean> => {
    const published = new Map<number, DurableRecord>();
    for (const { record } of (await readDurable()).nodes) {
      if (record.revision >= from && record.revision < to) published.set(record.revision, record);
    }
    const mismatch = (record: DurableRecord, found: string): boolean => {
      fail(
        cofferError(
          'ORDERING_E_ETCD_UNEXPECTED',
          `reading compacted history from etcd's keys: node ${record.nodeId} published position ${record.position} at revision ${record.revision}, but ${found}; batch keys were deleted outside Coffer`,
          { nodeId: record.nodeId, position: record.position, revision: record.revision },
        ),
      );
      return false;
    };
    let cursor = from;
    while (cursor < to) {
      // Keys first (small answers), values one key at a time: a page of values could be far
      // larger than a gRPC message.
      const page = await etcd.kv.range({
        key: Buffer.from(batchesPrefix),
        range_end: prefixEnd(batchesPrefix),
        min_mod_revision: cursor,
        max_mod_revision: to - 1,
        sort_target: 'Mod',
        sort_order: 'Ascend',
        keys_only: true,
        limit: mirrorChunkBatchesMax,
        revision: to,
      });
      contactOk();
      let last = Math.max(mirrored.revision, cursor - 1);
      for (const kv of page.kvs) {
        const problem = checkEvent(kv, last);
        if (problem !== undefined) {
          fail(problem);
          return false;
        }
        last = Number(kv.mod_revision);
      }
      const end = page.kvs.length === 0 ? to : last + 1;
      for (const record of published.values()) {
        if (record.revision < cursor || record.revision >= end) continue;
        const at = page.kvs.findIndex((kv) => Number(kv.mod_revision) === record.revision);
        if (at < 0) return mismatch(record, `no batch key has that revision`);
        const position = mirrored.position + at + 1;
        if (position !== record.position) {
          return mismatch(record, `it is position ${position} among the keys`);
        }
      }
      let chunk: WatchedBatch[] = [];
      let chunkBytes = 0;
      for (const listed of page.kvs) {
        const [kv] = (await etcd.kv.range({ key: listed.key, revision: to })).kvs;
        if (kv?.mod_revision !== listed.mod_revision) {
          fail(
            cofferError(
              'ORDERING_E_ETCD_UNEXPECTED',
              `batch key ${listed.key.toString('utf8')} changed while compacted history was read from the keys`,
              { key: listed.key.toString('utf8'), revision: listed.mod_revision },
            ),
          );
          return false;
        }
        const problem = checkEvent(kv, Number(kv.mod_revision) - 1);
        if (problem !== undefined) {
          fail(problem);
          return false;
        }
        chunk.push({
          revision: Number(kv.mod_revision),
          key: kv.key.toString('utf8'),
          value: kv.value,
        });
        chunkBytes += kv.value.byteLength;
        if (chunkBytes >= limits.watchBufferBytesMax) {
          if (!(await writeMirror(chunk))) return false;
          chunk = [];
          chunkBytes = 0;
        }
      }
      if (chunk.length > 0 && !(await writeMirror(chunk))) return false;
      cursor = end;
    }
    return true;
  };

  /**
   * The watch start was compacted. Coffer deletes batch keys only below its recorded
   * compaction and never overwrites one, so every batch at or above the record is still a
   * current key: such a gap (compaction by someone else, or not recorded yet) is read from the
   * keys. Batches below the record are gone from etcd: only a peer can give them.
   */
  const onCompacted = async (compactRevision: number): Promise<void> => {
    let record: RetentionRecord | undefined;
    try {
      record = await readRetentionRecord();
      contactOk();
      if (record === undefined || mirrored.position >= record.position) {
        const from = Math.max(mirrored.revision + 1, record?.compactRevision ?? 0, resumeFloor);
        const before = mirrored.position;
        if (from < compactRevision && !(await fillFromKeys(from, compactRevision))) return;
        resumeFloor = Math.max(resumeFloor, from, compactRevision);
        logger.info(
          {
            nodeId: options.nodeId,
            compactRevision,
            resumeAt: resumeFloor,
            fromKeys: mirrored.position - before,
          },
          'etcd ordering: the watch start was compacted; the mirror holds every batch below it (read from current keys where needed) and follows from there',
        );
        return;
      }
    } catch (error) {
      rethrowBug(error);
      if (isCofferError(error)) {
        fail(error);
        return;
      }
      // Unreachable, or compacted further meanwhile: the follower tries again.
      contactFailed(error);
      await nap(watchRetryMsMax);
      return;
    }
    const neededPosition = record.position;
    behind = {
      since: now(),
      error: cofferError(
        'ORDERING_E_COMPACTED',
        `this node is behind etcd's retained history: it mirrored position ${mirrored.position} (revision ${mirrored.revision}) but batches up to position ${neededPosition} were compacted away (etcd compacted at revision ${compactRevision}); it must catch up from a peer`,
        {
          position: mirrored.position,
          revision: mirrored.revision,
          compactRevision,
          neededPosition,
          retainedFromRevision: record.compactRevision,
        },
      ),
    };
    logger.error({ nodeId: options.nodeId, ...behind.error.details }, behind.error.message);
  };

  const recheckBehind = async (): Promise<void> => {
    const compactRevision = behind?.error.details['compactRevision'];
    if (typeof compactRevision !== 'number' || isStopped() || installing) return;
    try {
      const record = await readRetentionRecord();
      if (
        behind !== undefined &&
        !isInstalling() &&
        record !== undefined &&
        record.compactRevision >= compactRevision &&
        mirrored.position >= record.position
      ) {
        resumeFloor = Math.max(resumeFloor, record.compactRevision);
        behind = undefined;
        logger.info(
          { nodeId: options.nodeId, resumeAt: resumeFloor },
          'etcd ordering: the retention record shows the mirror holds every compacted batch; following etcd again',
        );
      }
    } catch (error) {
      rethrowBug(error);
    }
  };

  const follow = async (): Promise<void> => {
    let retryMs = watchRetryMsMin;
    while (!stopped) {
      if (behind !== undefined && !installing) {
        // A retention record written since may show the mirror holds everything after all.
        await nap(limits.retentionIntervalMs);
        await recheckBehind();
        continue;
      }
      if (failed !== undefined || installing) {
        await nap(60_000);
        continue;
      }
      if (mirror.health() !== 'ok') {
        await nap(1_000);
        continue;
      }
      const start = Math.max(mirrored.revision + 1, resumeFloor);
      const before = mirrored.position;
      const outcome = await watchOnce(start);
      stallCheck = undefined;
      if (mirrored.position > before) retryMs = watchRetryMsMin;
      switch (outcome.kind) {
        case 'stopped':
        case 'mirror-failed':
          break;
        case 'stall':
          watchIndex = (watchIndex + 1) % endpoints.length;
          logger.warn(
            { nodeId: options.nodeId, start },
            'etcd ordering: the watch stalled; reopening it',
          );
          break;
        case 'compacted':
          await onCompacted(outcome.compactRevision);
          break;
        case 'unexpected':
          fail(outcome.error);
          break;
        case 'error':
          watchIndex = (watchIndex + 1) % endpoints.length;
          if (!isStopped()) {
            logger.info(
              { nodeId: options.nodeId, start, retryMs },
              `etcd ordering: watch interrupted (${messageOf(outcome.error)}); reopening`,
            );
            await nap(retryMs);
            retryMs = Math.min(watchRetryMsMax, retryMs * 2);
          }
          break;
      }
    }
  };

  // --- health probe ---------------------------------------------------------------------------
  const probe = async (): Promise<void> => {
    let revision: number;
    try {
      // A linearizable read: it succeeds only through a member in a quorum with a leader.
      const response = await etcd.kv.range({ key: Buffer.from(healthKey) });
      revision = Number(response.header.revision);
      contactOk();
    } catch (error) {
      rethrowBug(error);
      contactFailed(error);
      return;
    }
    if (nospace !== undefined) {
      try {
        const alarms = await etcd.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' });
        if (!alarms.alarms.some((alarm) => alarm.alarm === 'Nospace')) {
          nospace = undefined;
          logger.info(
            { nodeId: options.nodeId },
            'etcd ordering: the NOSPACE alarm is gone; appends resume',
          );
        }
      } catch (error) {
        rethrowBug(error);
      }
    }
    const watch = activeWatch;
    if (watch === undefined || watch.busy()) {
      stallCheck = undefined;
      return;
    }
    watch.requestProgress();
    if (watch.seen >= revision) {
      stallCheck = undefined;
    } else if (stallCheck === undefined || watch.seen >= stallCheck.revision) {
      stallCheck = { revision, since: mono() };
    } else if (mono() - stallCheck.since > limits.watchStallMs) {
      stallCheck = undefined;
      watch.finish({ kind: 'stall' });
    }
  };

  // Between two space checks, the largest member's size is estimated as the last one read plus
  // what this node sent since (spaceGrowthPerByteSent a byte): a writer faster than the checks
  // would otherwise fill the quota past spaceHighRatio to etcd's own NOSPACE alarm, which
  // refuses the retention record too (and without it, retention may not delete what it
  // compacts). etcd reports a put some time after it (spaceReportLagMs), so a reading covers
  // what was sent until that long before it began: bytesSent is sampled at each probe for that.
  // Until the first reading, the estimate starts from an empty database.
  let bytesSent = 0;
  const sentSamples: { readonly at: number; readonly sent: number }[] = [];
  let sentEvicted = 0;
  const sampleSent = (): void => {
    sentSamples.push({ at: mono(), sent: bytesSent });
    if (sentSamples.length > sentSamplesMax) sentEvicted = sentSamples.shift()?.sent ?? 0;
  };
  /** bytesSent as it was at `time` or a little before (never more). */
  const sentBy = (time: number): number => {
    let sent = sentEvicted;
    for (const sample of sentSamples) {
      if (sample.at > time) break;
      sent = sample.sent;
    }
    return sent;
  };
  let largestRead: { readonly bytes: number; readonly sentBefore: number } = {
    bytes: 0,
    sentBefore: 0,
  };

  const nearQuotaError = (bytes: number, estimated: boolean): Trouble => ({
    since: now(),
    error: cofferError(
      'ORDERING_E_ETCD_NOSPACE',
      `an etcd member's database is ${estimated ? 'about ' : ''}${bytes} bytes${estimated ? ' with the batches sent since it was read' : ''}, above ${Math.round(spaceHighRatio * 100)}% of the ${limits.quotaBackendBytes}-byte quota; batch appends are refused until retention frees space`,
      {
        dbSizeBytes: bytes,
        quotaBackendBytes: limits.quotaBackendBytes,
        retryable: true,
        retryAfterMs: limits.retentionIntervalMs,
      },
    ),
  });

  /** The largest member's database size, estimated, with `bytes` more sent. */
  const estimatedLargest = (bytes: number): number =>
    largestRead.bytes + (bytesSent - largestRead.sentBefore + bytes) * spaceGrowthPerByteSent;

  /**
   * Refuses batch appends while a member's database is near the quota (see spaceHighRatio).
   * `afterDefragment`: the members just rewrote their files, so the sizes are current.
   */
  const checkSpace = async (afterDefragment = false): Promise<void> => {
    const sentBefore = afterDefragment ? bytesSent : sentBy(mono() - spaceReportLagMs);
    const sizes: number[] = [];
    await Promise.all(
      endpoints.map(async (endpoint) => {
        try {
          sizes.push(Number((await memberClient(endpoint).maintenance.status()).dbSize));
        } catch (error) {
          rethrowBug(error); // an unreachable member has no say; the probe reports reachability
        }
      }),
    );
    if (sizes.length === 0) return;
    const largest = Math.max(...sizes);
    largestRead = { bytes: largest, sentBefore };
    const estimate = estimatedLargest(0);
    if (nearQuota === undefined && estimate >= limits.quotaBackendBytes * spaceHighRatio) {
      nearQuota = nearQuotaError(estimate, estimate > largest);
      logger.error({ nodeId: options.nodeId }, nearQuota.error.message);
    } else if (nearQuota !== undefined && estimate < limits.quotaBackendBytes * spaceLowRatio) {
      nearQuota = undefined;
      logger.info(
        { nodeId: options.nodeId, dbSizeBytes: largest },
        'etcd ordering: etcd has space again; appends resume',
      );
    }
  };

  const probeLoop = async (): Promise<void> => {
    let lastSpaceAt = -Infinity;
    while (!stopped) {
      sampleSent();
      await probe();
      if (mono() - lastSpaceAt >= limits.spaceCheckIntervalMs) {
        lastSpaceAt = mono();
        await checkSpace();
      }
      await nap(limits.healthIntervalMs);
    }
  };

  // --- durable positions ------------------------------------------------------------------------
  let published: { position: number; at: number } | undefined;
  const heartbeatMs = Math.floor(limits.retentionWindowMs / 4);

  const publish = async (force: boolean): Promise<void> => {
    if (
      !force &&
      published !== undefined &&
      published.position === mirrored.position &&
      mono() - published.at < heartbeatMs
    ) {
      return;
    }
    const record: DurableRecord = {
      nodeId: options.nodeId,
      position: mirrored.position,
      revision: mirrored.revision,
      at: now(),
    };
    try {
      await etcd.kv.put({
        key: Buffer.from(durableKey),
        value: Buffer.from(JSON.stringify(record)),
      });
      contactOk();
      published = { position: record.position, at: mono() };
    } catch (error) {
      rethrowBug(error);
      if (isNoSpace(error)) {
        contactOk(); // etcd answered
        enterNoSpace(error);
      } else {
        contactFailed(error);
      }
    }
  };

  const publishLoop = async (): Promise<void> => {
    while (!stopped) {
      await publish(false);
      await nap(limits.durablePublishIntervalMs);
    }
  };

  // --- retention --------------------------------------------------------------------------------
  /** When this node last saw each durable record change (its own clock: no skew between nodes). */
  const observed = new Map<string, { modRevision: string; changedAt: number }>();
  let lastSpaceCheckAt = -Infinity;

  const readRetentionRecord = async (): Promise<RetentionRecord | undefined> => {
    const response = await etcd.kv.range({ key: Buffer.from(retentionKey) });
    const kv = response.kvs[0];
    return kv === undefined ? undefined : parseRetentionRecord(kv.value.toString('utf8'));
  };

  const readDurable = async () => {
    // One transaction: the records, the retention record and the revision are one snapshot.
    const snapshot = await etcd.kv.txn({
      success: [
        {
          request_range: {
            key: Buffer.from(durablePrefix),
            range_end: prefixEnd(durablePrefix),
          },
        },
        { request_range: { key: Buffer.from(retentionKey) } },
      ],
    });
    const durableKvs = snapshot.responses[0]?.response_range.kvs ?? [];
    const recordKv = snapshot.responses[1]?.response_range.kvs[0];
    const nodes: { record: DurableRecord; modRevision: string }[] = [];
    for (const kv of durableKvs) {
      const record = parseDurableRecord(kv.value.toString('utf8'));
      if (record === undefined) {
        logger.warn(
          { key: kv.key.toString('utf8') },
          'etcd ordering: ignoring a malformed durable record',
        );
        continue;
      }
      nodes.push({ record, modRevision: kv.mod_revision });
    }
    const record =
      recordKv === undefined ? undefined : parseRetentionRecord(recordKv.value.toString('utf8'));
    if (recordKv !== undefined && record === undefined) {
      throw cofferError(
        'ORDERING_E_ETCD_UNEXPECTED',
        `the retention record at ${retentionKey} is malformed; retention stops until it is fixed`,
        { key: retentionKey },
      );
    }
    return {
      nodes,
      record,
      recordModRevision: recordKv?.mod_revision,
      revision: Number(snapshot.header.revision),
    };
  };

  const isActive = (nodeId: string, modRevision: string): boolean => {
    const seen = observed.get(nodeId);
    if (seen === undefined || seen.modRevision !== modRevision) {
      observed.set(nodeId, { modRevision, changedAt: mono() });
      return true;
    }
    return mono() - seen.changedAt <= limits.retentionWindowMs;
  };

  const batchKeysBelow = async (revision: number): Promise<Buffer[]> => {
    if (revision <= 1) return [];
    const response = await etcd.kv.range({
      key: Buffer.from(batchesPrefix),
      range_end: prefixEnd(batchesPrefix),
      max_mod_revision: revision - 1,
      keys_only: true,
      limit: retentionDeleteKeysMax,
    });
    return response.kvs.map((kv) => kv.key);
  };

  const deleteKeys = async (keys: readonly Buffer[]): Promise<number | undefined> => {
    let last: number | undefined;
    for (let i = 0; i < keys.length; i += deleteOpsPerTxn) {
      const response = await etcd.kv.txn({
        success: keys
          .slice(i, i + deleteOpsPerTxn)
          .map((key) => ({ request_delete_range: { key } })),
      });
      last = Number(response.header.revision);
    }
    return last;
  };

  const compact = async (revision: number): Promise<void> => {
    try {
      await etcd.kv.compact({ revision, physical: false });
    } catch (error) {
      // Another node compacted as far or further: fine.
      if (!messageOf(error).includes('required revision has been compacted')) throw error;
    }
  };

  /** Defragments members with enough free space, then disarms NOSPACE alarms. */
  const maintainSpace = async (
    force: boolean,
  ): Promise<Pick<RetentionOutcome, 'defragmented' | 'disarmed'>> => {
    lastSpaceCheckAt = mono();
    const defragmented: string[] = [];
    for (const endpoint of endpoints) {
      try {
        const status = await memberClient(endpoint).maintenance.status();
        const size = Number(status.dbSize);
        const inUse = Number(status.dbSizeInUse);
        const free = size - inUse;
        if (free >= limits.defragFreeBytesMin && (force || free >= size * defragFreeRatio)) {
          // One member at a time: defragmenting blocks the member while it rewrites its file.
          await memberClient(endpoint).maintenance.defragment({
            deadline: Date.now() + defragTimeoutMs,
          });
          defragmented.push(endpoint);
          logger.info(
            { endpoint, dbSizeBytes: size, dbSizeInUseBytes: inUse },
            `etcd ordering: defragmented ${endpoint} (${free} bytes were free)`,
          );
        }
      } catch (error) {
        rethrowBug(error);
        logger.warn(
          { endpoint },
          `etcd ordering: space check of ${endpoint} failed: ${messageOf(error)}`,
        );
      }
    }
    let disarmed = 0;
    const alarms = await etcd.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' });
    for (const alarm of alarms.alarms) {
      if (alarm.alarm !== 'Nospace') continue;
      await etcd.maintenance.alarm({
        action: 'Deactivate',
        memberID: alarm.memberID,
        alarm: 'Nospace',
      });
      disarmed += 1;
      logger.info({ memberId: alarm.memberID }, 'etcd ordering: disarmed a NOSPACE alarm');
    }
    if (defragmented.length > 0) await checkSpace(true);
    return { defragmented, disarmed };
  };

  const runRetention = async (): Promise<RetentionOutcome> => {
    const snapshot = await readDurable();
    contactOk();
    // This node counts with its live mirror position, whatever its record says: it is running,
    // and its published position may be stale (it cannot be refreshed while etcd refuses puts).
    const active = [
      ...snapshot.nodes
        .filter(
          ({ record, modRevision }) =>
            record.nodeId !== options.nodeId && isActive(record.nodeId, modRevision),
        )
        .map(({ record }) => record),
      { position: mirrored.position, revision: mirrored.revision },
    ];
    if (active.length < retentionNodesMin()) {
      // Fewer nodes than a majority of the network are active (e.g. the others are still
      // starting): deleting now could leave history that only a minority holds, and a node
      // catching up needs a majority's signatures. Space is still looked after.
      const short = nospace !== undefined || nearQuota !== undefined;
      return {
        deleted: 0,
        ...(short ? await maintainSpace(true) : { defragmented: [], disarmed: 0 }),
      };
    }
    const record = snapshot.record;
    const compacted = record?.compactRevision ?? 0;
    const base = retentionBase(active, record);
    let target = undefined;
    if (base !== undefined) {
      const first = await etcd.kv.range({
        key: Buffer.from(batchesPrefix),
        range_end: prefixEnd(batchesPrefix),
        min_mod_revision: base.revision,
        sort_target: 'Mod',
        sort_order: 'Ascend',
        keys_only: true,
        limit: 1,
        revision: snapshot.revision,
      });
      const firstRevision = first.kvs[0]?.mod_revision;
      target = compactionTarget(
        base,
        firstRevision === undefined ? undefined : Number(firstRevision),
        snapshot.revision,
      );
    }
    const upTo = Math.max(target?.revision ?? 0, compacted);
    const keys = await batchKeysBelow(upTo);
    let compactedAt: number | undefined;
    let writtenModRevision: number | undefined;
    let nextRecord = record;
    if (target !== undefined && shouldCompact(target, record, keys.length > 0)) {
      assert(target.revision > compacted, 'compaction only moves forward');
      nextRecord = {
        compactRevision: target.revision,
        position: target.position,
        tombstoneRevision: record?.tombstoneRevision ?? 0,
      };
      let written;
      try {
        written = await etcd.kv.txn({
          compare: [
            snapshot.recordModRevision === undefined
              ? {
                  key: Buffer.from(retentionKey),
                  target: 'Create',
                  result: 'Equal',
                  create_revision: 0,
                }
              : {
                  key: Buffer.from(retentionKey),
                  target: 'Mod',
                  result: 'Equal',
                  mod_revision: snapshot.recordModRevision,
                },
          ],
          success: [
            {
              request_put: {
                key: Buffer.from(retentionKey),
                value: Buffer.from(JSON.stringify(nextRecord)),
              },
            },
          ],
        });
      } catch (error) {
        if (!isNoSpace(error)) throw error;
        // No put is possible under NOSPACE, but deletes, compaction and defragmentation are.
        // Every active node resumes at or above the target, so compacting there is safe; the
        // record follows in a later round (a node meeting the gap meanwhile reads it from the
        // keys, so keys are deleted only below the recorded revision).
        enterNoSpace(error);
        await compact(target.revision);
        const stale = compacted > 0 ? await batchKeysBelow(compacted) : [];
        await deleteKeys(stale);
        return {
          deleted: stale.length,
          compactedAt: target.revision,
          ...(await maintainSpace(true)),
        };
      }
      if (!written.succeeded) {
        return { deleted: 0, defragmented: [], disarmed: 0 }; // another node's round won
      }
      writtenModRevision = Number(written.header.revision);
      await compact(target.revision);
      compactedAt = target.revision;
    }
    // Every active node holds the batches below upTo, compacted or not yet.
    const deletable = keys;
    const tombstoneRevision = await deleteKeys(deletable);
    if (tombstoneRevision !== undefined && nextRecord !== undefined) {
      // Their tombstones go at the next compaction above this revision.
      const updated = { ...nextRecord, tombstoneRevision };
      await etcd.kv.txn({
        compare: [
          writtenModRevision === undefined && snapshot.recordModRevision === undefined
            ? {
                key: Buffer.from(retentionKey),
                target: 'Create',
                result: 'Equal',
                create_revision: 0,
              }
            : {
                key: Buffer.from(retentionKey),
                target: 'Mod',
                result: 'Equal',
                mod_revision: writtenModRevision ?? snapshot.recordModRevision ?? 0,
              },
        ],
        success: [
          {
            request_put: {
              key: Buffer.from(retentionKey),
              value: Buffer.from(JSON.stringify(updated)),
            },
          },
        ],
      });
    }
    let space: Pick<RetentionOutcome, 'defragmented' | 'disarmed'> = {
      defragmented: [],
      disarmed: 0,
    };
    const short = nospace !== undefined || nearQuota !== undefined;
    if (
      (compactedAt !== undefined &&
        (short || mono() - lastSpaceCheckAt >= limits.defragIntervalMs)) ||
      (short && mono() - lastSpaceCheckAt >= Math.max(limits.retentionIntervalMs, 1_000))
    ) {
      // Short of space: defragment and disarm even when this round freed nothing new (an
      // earlier round's deletes may be what a defragment returns).
      space = await maintainSpace(short);
    }
    if (compactedAt !== undefined || deletable.length > 0) {
      logger.info(
        { nodeId: options.nodeId, compactedAt, deleted: deletable.length },
        `etcd ordering: retention deleted ${deletable.length} batch keys${compactedAt === undefined ? '' : ` and compacted at revision ${compactedAt}`}`,
      );
    }
    return {
      deleted: deletable.length,
      ...(compactedAt === undefined ? {} : { compactedAt }),
      ...space,
    };
  };

  const retentionLoop = async (): Promise<void> => {
    while (!stopped) {
      await nap(limits.retentionIntervalMs);
      if (isStopped() || failed !== undefined) continue;
      try {
        await runRetention();
      } catch (error) {
        rethrowBug(error);
        if (isCofferError(error, 'ORDERING_E_ETCD_UNEXPECTED')) logger.error({}, error.message);
        else
          logger.warn(
            { nodeId: options.nodeId },
            `etcd ordering: retention round failed: ${messageOf(error)}`,
          );
      }
    }
  };

  // --- catch-up from a peer ----------------------------------------------------------------------

  const installFromPeer = async (entries: readonly MirrorEntry[]): Promise<number> => {
    if (closed) throw closedError(options.mirrorDir);
    const refuse = (reason: string, details: Record<string, unknown> = {}): CofferError =>
      cofferError('ORDERING_E_PEER_ENTRIES', `installFromPeer: ${reason}`, {
        position: mirrored.position,
        revision: mirrored.revision,
        ...details,
      });
    const gap = behind;
    if (gap === undefined) throw refuse('this node is not behind etcd; it follows etcd itself');
    if (installing) throw refuse('another installFromPeer is running');
    if (entries.length === 0 || entries.length > installBatchesMax) {
      throw refuse(`give 1 to ${installBatchesMax} entries, not ${entries.length}`);
    }
    const problem = mirrorEntriesProblem(entries, mirrored);
    if (problem !== undefined) throw refuse(problem.reason, { at: problem.at });
    installing = true;
    try {
      for (let i = 0; i < entries.length;) {
        const chunk: WatchedBatch[] = [];
        let bytes = 0;
        while (i < entries.length && chunk.length < mirrorChunkBatchesMax) {
          const entry = entries[i];
          assert(entry !== undefined, 'index within entries');
          if (chunk.length > 0 && bytes + entry.batch.byteLength > limits.watchBufferBytesMax)
            break;
          chunk.push({
            revision: entry.revision,
            key: '',
            value: Buffer.from(entry.batch.buffer, entry.batch.byteOffset, entry.batch.byteLength),
          });
          bytes += entry.batch.byteLength;
          i += 1;
        }
        if (!(await writeMirror(chunk))) {
          const local = mirror.health();
          throw local === 'ok' ? refuse('the mirror refused the entries') : local.error;
        }
      }
    } finally {
      installing = false;
    }
    const needed = gap.error.details['neededPosition'];
    if (typeof needed === 'number' && mirrored.position < needed) {
      behind = {
        since: gap.since,
        error: cofferError(
          'ORDERING_E_COMPACTED',
          `this node is still behind etcd's retained history: it holds position ${mirrored.position}, batches up to ${needed} must come from a peer`,
          { ...gap.error.details, position: mirrored.position, revision: mirrored.revision },
        ),
      };
    } else {
      behind = undefined;
      logger.info(
        { nodeId: options.nodeId, position: mirrored.position },
        'etcd ordering: caught up from a peer; following etcd again',
      );
    }
    wake();
    return mirror.committedPosition();
  };

  // --- reads and status ---------------------------------------------------------------------------
  const readMirror = async (from: number, max: number): Promise<readonly MirrorEntry[]> => {
    if (closed) throw closedError(options.mirrorDir);
    const entries = await mirror.read(from, max);
    return entries.map((entry) => {
      const decoded = decodeMirrorRecord(entry.batch, entry.position);
      if (!decoded.ok) throw decoded.error;
      return { position: entry.position, revision: decoded.revision, batch: decoded.batch };
    });
  };

  const read = async (from: number, max: number): Promise<readonly LogEntry[]> =>
    (await readMirror(from, max)).map(({ position, batch }) => ({ position, batch }));

  const status = async (): Promise<EtcdLogStatus> => {
    const errors: string[] = [];
    const names = new Map<string, string>();
    try {
      const list = await etcd.cluster.memberList({});
      for (const member of list.members) names.set(member.ID, member.name);
    } catch (error) {
      rethrowBug(error);
      errors.push(`member list: ${messageOf(error)}`);
    }
    let leaderId: string | undefined;
    const members = await Promise.all(
      endpoints.map(async (endpoint): Promise<EtcdMemberStatus> => {
        try {
          const member = await memberClient(endpoint).maintenance.status();
          const id = member.header.member_id;
          if (member.leader !== '0') leaderId = member.leader;
          const name = names.get(id);
          return {
            endpoint,
            id: BigInt(id).toString(16),
            ...(name === undefined ? {} : { name }),
            ok: true,
            isLeader: member.leader === id,
            dbSizeBytes: Number(member.dbSize),
            dbSizeInUseBytes: Number(member.dbSizeInUse),
            raftTerm: Number(member.raftTerm),
            raftIndex: Number(member.raftIndex),
            version: member.version,
          };
        } catch (error) {
          rethrowBug(error);
          return { endpoint, ok: false, error: messageOf(error) };
        }
      }),
    );
    let alarms: EtcdLogStatus['alarms'] = [];
    let nodes: EtcdNodeStatus[] = [];
    let retention: RetentionRecord | undefined;
    try {
      const response = await etcd.maintenance.alarm({ action: 'Get', memberID: 0, alarm: 'None' });
      alarms = response.alarms.map((alarm) => ({
        memberId: BigInt(alarm.memberID).toString(16),
        alarm: alarm.alarm,
      }));
    } catch (error) {
      rethrowBug(error);
      errors.push(`alarms: ${messageOf(error)}`);
    }
    try {
      const snapshot = await readDurable();
      retention = snapshot.record;
      nodes = snapshot.nodes.map(({ record, modRevision }) => {
        const seen = observed.get(record.nodeId);
        return seen === undefined || seen.modRevision !== modRevision
          ? { ...record, ...(seen === undefined ? {} : { active: true }) }
          : { ...record, active: mono() - seen.changedAt <= limits.retentionWindowMs };
      });
    } catch (error) {
      rethrowBug(error);
      errors.push(`durable positions: ${messageOf(error)}`);
    }
    const leaderName = leaderId === undefined ? undefined : names.get(leaderId);
    return {
      nodeId: options.nodeId,
      health: health(),
      mirror: { ...mirrored },
      watchEndpoint: watchEndpoint(),
      ...(leaderId === undefined
        ? {}
        : { leader: { id: BigInt(leaderId).toString(16), name: leaderName ?? '' } }),
      members,
      alarms,
      ...(retention === undefined ? {} : { retention }),
      nodes,
      errors,
    };
  };

  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      // Appends already accepted settle first (by their mirror entry or their timeout).
      await Promise.all([...pending.values()].map((entry) => entry.done));
      stopped = true;
      activeWatch?.finish({ kind: 'stopped' });
      wake();
      await Promise.all(tasks);
      await publish(true);
      etcd.close();
      appendEtcd.close();
      for (const client of [...memberClients.values(), ...watchClients.values()]) client.close();
      await mirror.close();
    })();
    return closing;
  };

  const tasks = [
    follow(),
    probeLoop(),
    publishLoop(),
    ...(options.retention === false ? [] : [retentionLoop()]),
  ].map((task) =>
    task.catch((error: unknown) => {
      // Only our bugs get here: the loops handle etcd's and the disk's errors.
      queueMicrotask(() => {
        throw error;
      });
    }),
  );

  return {
    append,
    read,
    committedPosition: () => mirror.committedPosition(),
    onCommit: (listener) => mirror.onCommit(listener),
    health,
    close,
    readMirror,
    installFromPeer,
    mirroredRevision: () => mirrored.revision,
    status,
    runRetention,
  };
}

/** Read through a call: an append settles while its sender awaits, which narrowing cannot see. */
function isSettled(entry: PendingAppend): boolean {
  return entry.settled;
}

/** The first key after every key that starts with `prefix` (etcd's range end for a prefix). */
function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i -= 1) {
    const byte = end[i];
    assert(byte !== undefined, 'index within the prefix');
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function checkIdentity(options: EtcdLogOptions): void {
  if (!nodeIdPattern.test(options.nodeId)) {
    throw configError(
      `nodeId ${JSON.stringify(options.nodeId)} must be 1-64 letters, digits, '.', '_' or '-'`,
      'nodeId',
    );
  }
  if (
    !prefixPattern.test(options.prefix) ||
    options.prefix.endsWith('/') ||
    options.prefix.includes('//')
  ) {
    throw configError(
      `prefix ${JSON.stringify(options.prefix)} must be 1-128 letters, digits, '.', '_', '-' or '/', without a trailing or double '/'`,
      'prefix',
    );
  }
}

function checkEndpoints(endpoints: readonly string[]): readonly string[] {
  if (endpoints.length === 0)
    throw configError('endpoints must name at least one etcd member', 'endpoints');
  for (const endpoint of endpoints) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw configError(
        `endpoint ${JSON.stringify(endpoint)} is not a URL like https://host:2379`,
        'endpoints',
      );
    }
    if (url.protocol !== 'https:' || url.port === '' || url.pathname !== '/') {
      throw configError(
        `endpoint ${endpoint} must be https://host:port (Coffer talks to etcd over mutual TLS only)`,
        'endpoints',
      );
    }
  }
  return endpoints;
}

function checkTls(tls: EtcdTls): NonNullable<IOptions['credentials']> {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(tls.certPem);
  } catch (error) {
    throw configError(
      `tls.certPem is not a PEM certificate: ${messageOf(error)}`,
      'tls.certPem',
      error,
    );
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(tls.keyPem))) {
      throw configError(`tls.keyPem is not the key of tls.certPem (${cert.subject})`, 'tls.keyPem');
    }
  } catch (error) {
    if (isCofferError(error)) throw error;
    throw configError(
      `tls.keyPem is not a PEM private key: ${messageOf(error)}`,
      'tls.keyPem',
      error,
    );
  }
  try {
    new X509Certificate(tls.caPem);
  } catch (error) {
    throw configError(
      `tls.caPem holds no PEM certificate: ${messageOf(error)}`,
      'tls.caPem',
      error,
    );
  }
  return {
    rootCertificate: Buffer.from(tls.caPem),
    certChain: Buffer.from(tls.certPem),
    privateKey: Buffer.from(tls.keyPem),
  };
}

/** A member that cannot be reached or does not answer in time (not an answer it gave). */
function unreachable(error: Error): boolean {
  return error instanceof GRPCUnavailableError || error instanceof GRPCDeadlineExceededError;
}

/** etcd's own limit ("request is too large"), or its gRPC limit just above it. */
function isTooLarge(error: unknown): boolean {
  const message = messageOf(error);
  return (
    message.includes('request is too large') || message.includes('received message larger than max')
  );
}

function isNoSpace(error: unknown): boolean {
  return messageOf(error).includes('database space exceeded');
}

function noSpaceError(cause: unknown): CofferError {
  return cofferError(
    'ORDERING_E_ETCD_NOSPACE',
    `etcd is out of space: ${messageOf(cause)}`,
    {},
    cause,
  );
}

function configError(message: string, option: string, cause?: unknown): CofferError {
  return cofferError(
    'ORDERING_E_CONFIG',
    `etcd ordering log options: ${message}`,
    { option },
    cause,
  );
}

function closedError(dir: string): CofferError {
  return cofferError(
    'ORDERING_E_CLOSED',
    `the etcd ordering log with its mirror at ${dir} is closed`,
    { dir },
  );
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Our bugs crash loudly (STYLE.md 6); only the world's errors become coded results. */
function rethrowBug(error: unknown): void {
  if (error instanceof AssertionError) throw error;
}
