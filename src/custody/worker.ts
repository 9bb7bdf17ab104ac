// The custody worker loop (issue 7), an IO edge: one process per chain, signing on the ledger as
// a worker identity named in the custody parameters. Each step it
//   - reports transfers to custody addresses as deposits (deposit_seen, deposit_confirmations);
//   - builds approved withdrawals (`build`: unsigned tx + digests);
//   - for withdrawals the service signed, fetches the receipt of the service_sign transaction,
//     has the isolated signer sign with the platform key, records `platform_sign`;
//   - broadcasts platform-signed withdrawals with the two recorded signatures (`broadcast`);
//   - follows broadcast ones to the chain's depth (`confirm`, or `fail`).
// Every decision is the custody app's; the worker only moves data between the ledger, the
// signer and the chain, so a crashed worker restarts from the ledger's state. The one thing the
// ledger does not hold is how far the chain was scanned for deposits: a CursorStore keeps that
// (worker-state.ts, a file per chain), saved only behind deposits the ledger acknowledged.
// The service's half (signing built withdrawals with its own key) is the SDK's
// (`CustodyClient.signBuilt`, src/client/custody.ts): a service never runs a worker.
import { request as httpsRequest } from 'node:https';
import { cofferError } from '../errors/index.js';
import type { ChainBlock, ChainWorker, LedgerPort, LedgerTxResult } from './chains/types.js';
import type { HistoryEntry, WalletRecord, WithdrawalRecord, WithdrawalState } from './types.js';

/** Withdrawals read per state and step (the custody query's page). */
export const workerPageMax = 100;
/** Requests in flight to the ledger and the signer per state and step. */
export const workerConcurrencyMax = 32;
export const workerPollMsDefault = 200;
/** How long a broadcast transaction may stay unconfirmed before the worker bumps its fee. */
export const workerBumpAfterMsDefault = 30 * 60 * 1000;
/** Deposits whose last report a worker remembers, to skip reporting them again unchanged. */
/** Pages of new wallets (100 each) one step prepares; the rest wait for the next step. */
export const walletPagesPerStepMax = 10;
export const reportedDepositsMax = 10_000;
/** Largest signer answer read, in bytes. */
const signerAnswerBytesMax = 64 * 1024;

export type SignRequestBody = {
  readonly walletId: string;
  readonly withdrawalId: string;
  /** The withdrawal's recorded digests, in order; the signer signs each or none. */
  readonly digests: readonly string[];
  readonly keyId: string;
  readonly receipt: unknown;
};

/** The signer service as the worker sees it: POST /v1/sign. */
export type SignerPort = {
  /** Raw r‖s signatures (hex), aligned with `body.digests`. */
  readonly sign: (body: SignRequestBody) => Promise<{ readonly signatures: readonly string[] }>;
};

export type SignerClientOptions = {
  readonly url: string;
  /** CA of the signer's TLS certificate. */
  readonly ca: string;
  readonly servername?: string;
  /** The worker's MSP identity certificate and key (the signer authorises callers by them). */
  readonly cert: string;
  readonly key: string;
  readonly timeoutMs?: number;
};

/** An HTTPS client of the signer; refusals come back as their CofferError code. */
export function createSignerClient(options: SignerClientOptions): SignerPort {
  const timeout = options.timeoutMs ?? 30_000;
  return {
    sign: (body) =>
      new Promise((resolve, reject) => {
        const payload = Buffer.from(JSON.stringify(body));
        const req = httpsRequest(
          `${options.url}/v1/sign`,
          {
            method: 'POST',
            ca: options.ca,
            cert: options.cert,
            key: options.key,
            timeout,
            ...(options.servername === undefined ? {} : { servername: options.servername }),
            headers: { 'content-type': 'application/json', 'content-length': payload.length },
          },
          (res) => {
            const chunks: Buffer[] = [];
            let size = 0;
            res.on('data', (chunk: Buffer) => {
              size += chunk.length;
              if (size > signerAnswerBytesMax) req.destroy(new Error('signer answer too large'));
              else chunks.push(chunk);
            });
            res.on('end', () => {
              let json: Record<string, unknown>;
              try {
                json = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<
                  string,
                  unknown
                >;
              } catch {
                reject(new Error(`signer answered HTTP ${res.statusCode ?? 0} without JSON`));
                return;
              }
              const signatures = json['signatures'];
              if (
                res.statusCode === 200 &&
                Array.isArray(signatures) &&
                signatures.length === body.digests.length &&
                signatures.every((item) => typeof item === 'string')
              ) {
                resolve({ signatures });
                return;
              }
              const error = json['error'] as { code?: string; message?: string } | undefined;
              reject(
                Object.assign(
                  new Error(
                    `signer refused (HTTP ${res.statusCode ?? 0}): ${error?.code ?? ''} ${error?.message ?? ''}`,
                  ),
                  { code: error?.code, httpStatus: res.statusCode },
                ),
              );
            });
          },
        );
        req.on('timeout', () =>
          req.destroy(
            cofferError('NODE_E_UNAVAILABLE', `no answer from the signer within ${timeout} ms`),
          ),
        );
        req.on('error', reject);
        req.end(payload);
      }),
  };
}

export type WorkerEvent =
  | { readonly kind: 'step'; readonly action: string; readonly id: string; readonly state: string }
  | {
      readonly kind: 'error';
      readonly action: string;
      readonly id: string;
      readonly error: string;
    };

/**
 * Custody reads through the node's custody API (the SDK's CustodyClient fits): its routes run
 * custody's queries with the governed parameters in force, so the worker's role is seen.
 */
export type CustodyReads = {
  readonly wallet: (walletId: string) => Promise<Record<string, unknown>>;
  readonly withdrawals: (filter: {
    readonly walletId?: string;
    readonly state?: string;
    readonly chain?: string;
  }) => Promise<Record<string, unknown>>;
  readonly history: (
    kind: 'wallet' | 'withdrawal' | 'deposit' | 'policy',
    id: string,
  ) => Promise<Record<string, unknown>>;
  /** The chain_wallets query: every wallet of the chain in creation order from `cursor`. */
  readonly chainWallets: (chain: string, cursor?: number) => Promise<Record<string, unknown>>;
};

/**
 * The deposit-scan cursor kept between runs (worker-state.ts keeps it in a file per chain). The
 * worker saves a cursor only once the ledger has committed the reports of every deposit before
 * it: a restart may report a deposit again (idempotent), never skip one.
 */
export type CursorStore = {
  /** The cursor the last run saved; null to scan from the start. */
  readonly saved: string | null;
  /** Durably records `cursor` (resolves once it would survive a crash). */
  readonly save: (cursor: string) => Promise<void>;
};

export type WorkerOptions = {
  /** Submits (signed as the worker identity), token queries, statuses and receipts. */
  readonly ledger: LedgerPort;
  readonly custody: CustodyReads;
  readonly signer: SignerPort;
  readonly chain: ChainWorker;
  /** Where the deposit cursor survives a restart; without it a new worker scans from the start. */
  readonly cursorStore?: CursorStore;
  readonly pollMs?: number;
  /**
   * Ledger time a broadcast transaction may stay unconfirmed before the chain's `bump` (if it
   * has one) replaces it with a higher fee (default workerBumpAfterMsDefault).
   */
  readonly bumpAfterMs?: number;
  /** Now, in ms since the epoch (tests); the ledger's times are compared with it. */
  readonly clock?: () => number;
  readonly onEvent?: (event: WorkerEvent) => void;
};

export type StepReport = {
  readonly built: number;
  readonly platformSigned: number;
  readonly broadcast: number;
  readonly confirmed: number;
  readonly failed: number;
  readonly deposits: number;
  /** Wallets of the chain made ready (address deployed or derived, registered, watched). */
  readonly prepared: number;
  /** Deposits a reorganisation took out before their depth, reported as dropped. */
  readonly dropped: number;
  /** Deposits whose report the ledger refused for good (depositRefusedForGood): scanned past. */
  readonly refused: number;
  /** Stuck broadcasts replaced with a higher fee (`rebuild` on bitcoin, `rebroadcast` on ethereum). */
  readonly rebuilt: number;
  readonly errors: number;
};

export type CustodyWorker = {
  /** One pass over deposits and every open withdrawal state. */
  readonly step: () => Promise<StepReport>;
  /** Steps every pollMs until stopped. */
  readonly start: () => void;
  readonly stop: () => Promise<void>;
};

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Runs `work` over `items`, at most workerConcurrencyMax at once. */
async function eachLimited<T>(
  items: readonly T[],
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(workerConcurrencyMax, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await work(item);
    }
  });
  await Promise.all(lanes);
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Refusals of a deposit report that no retry can change: the ledger recorded the report as
 * invalid because of the deposit itself (an asset or amount custody cannot take, a conflict
 * with what was reported before, an address no wallet owns). The scan goes past such a deposit
 * (the invalid report stays in the ledger, and the worker reports an error event), so that one
 * odd transfer, e.g. of a token anyone minted, cannot hold back every later deposit. Every
 * other refusal (not a worker, capacity, no answer) keeps the scan behind it until it goes in.
 */
export const depositRefusedForGood: ReadonlySet<string> = new Set([
  'APP_E_INVALID_ARGS',
  'CUSTODY_E_DEPOSIT_CONFLICT',
  'CUSTODY_E_UNKNOWN_ADDRESS',
]);

function mustCommit(result: LedgerTxResult, what: string): LedgerTxResult {
  if (result.status === 'Committed') return result;
  throw cofferError(
    'APP_E_FAILED',
    `${what}: ${result.status}${result.code === undefined ? '' : ` ${result.code}`} ${result.message ?? ''}`.trim(),
  );
}

export function createCustodyWorker(options: WorkerOptions): CustodyWorker {
  const { ledger, signer, chain, custody } = options;
  const emit = options.onEvent ?? (() => undefined);
  const clock = options.clock ?? Date.now;
  const bumpAfterMs = options.bumpAfterMs ?? workerBumpAfterMsDefault;
  const wallets = new Map<string, WalletRecord>();
  /**
   * What this process last reported of each deposit (block and confirmations), so that a scan
   * that shows a deposit again unchanged (a chain whose cursor waits below the depth) submits
   * nothing. Bounded: the oldest are forgotten first, which costs only a repeated report.
   */
  const reported = new Map<string, string>();
  /**
   * Deposits reported below the depth, by `<chainTxId>/<outputIndex>`: a scan shows them again
   * until they reach it (chains' cursors wait below the depth), so one a scan no longer shows
   * is asked about (depositInBlock) and reported dropped when its block is gone. Bounded like
   * `reported`; after a restart the rescan from the saved cursor finds them again.
   */
  const belowDepth = new Map<
    string,
    { readonly chainTxId: string; readonly outputIndex: number; readonly block: ChainBlock }
  >();
  const store = options.cursorStore;
  let cursor: string | null = store?.saved ?? null;
  let savedCursor = cursor;
  /** Wallets of the chain prepared so far, in creation order (chain_wallets' cursor). */
  let walletsSeen = 0;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  let stopped = false;

  const wallet = async (walletId: string): Promise<WalletRecord> => {
    const known = wallets.get(walletId);
    if (known !== undefined) return known;
    const answer = (await custody.wallet(walletId)) as { wallet: WalletRecord };
    wallets.set(walletId, answer.wallet);
    return answer.wallet;
  };

  const open = async (state: WithdrawalState): Promise<WithdrawalRecord[]> => {
    const answer = (await custody.withdrawals({ chain: chain.chain, state })) as {
      withdrawals: WithdrawalRecord[];
    };
    return answer.withdrawals;
  };

  const submit = async (action: string, args: Record<string, unknown>, id: string) => {
    const result = mustCommit(
      await ledger.submit('custody', action, args, { wait: 'commit' }),
      `custody ${action} ${id}`,
    );
    emit({ kind: 'step', action, id, state: action });
    return result;
  };

  /**
   * Moves the scan past deposits the ledger acknowledged (or that need no report) and saves the
   * position. A failed save leaves the file behind the cursor, which only costs re-reports.
   */
  const advance = async (next: string): Promise<void> => {
    cursor = next;
    if (store === undefined || next === savedCursor) return;
    await store.save(next);
    savedCursor = next;
  };

  /** The txId of the committed service_sign step of a withdrawal, from its history. */
  const serviceSignTx = async (withdrawalId: string): Promise<string> => {
    const answer = (await custody.history('withdrawal', withdrawalId)) as {
      entries: HistoryEntry[];
    };
    const entry = answer.entries.findLast((item) => item.action === 'service_sign');
    if (entry === undefined)
      throw new Error(`withdrawal ${withdrawalId} is service_signed without a service_sign step`);
    return entry.txId;
  };

  const step = async (): Promise<StepReport> => {
    const counts = {
      built: 0,
      platformSigned: 0,
      broadcast: 0,
      confirmed: 0,
      failed: 0,
      deposits: 0,
      prepared: 0,
      dropped: 0,
      rebuilt: 0,
      refused: 0,
      errors: 0,
    };
    const guarded = async (action: string, id: string, work: () => Promise<void>) => {
      try {
        await work();
      } catch (error) {
        counts.errors += 1;
        emit({ kind: 'error', action, id, error: message(error) });
      }
    };

    // New wallets before the scan: their addresses are ready and watched when it runs (and after
    // a restart every wallet of the chain is prepared again, which is idempotent). In creation
    // order; a failure stops there and is tried again next step.
    await guarded('prepare_wallet', String(walletsSeen), async () => {
      for (let page = 0; page < walletPagesPerStepMax; page += 1) {
        const answer = (await custody.chainWallets(chain.chain, walletsSeen)) as {
          wallets: WalletRecord[];
          next: number | null;
        };
        for (const record of answer.wallets) {
          wallets.set(record.id, record);
          await chain.prepareWallet(record);
          walletsSeen += 1;
          counts.prepared += 1;
        }
        if (answer.next === null || answer.wallets.length === 0) break;
      }
    });

    // Deposits first: funds seen before withdrawals are built from them.
    const shown = new Set<string>();
    await guarded('scan', cursor ?? '0', async () => {
      const scan = await chain.scanDeposits(cursor);
      for (const deposit of scan.deposits) {
        const depositKey = `${deposit.chainTxId}/${deposit.outputIndex}`;
        shown.add(depositKey);
        if (deposit.walletId !== null) {
          let owner: WalletRecord;
          try {
            owner = await wallet(deposit.walletId);
          } catch (error) {
            // Sent to an account no custody wallet owns: nothing to credit, scan on.
            if (codeOf(error) !== 'CUSTODY_E_NOT_FOUND') throw error;
            emit({
              kind: 'error',
              action: 'deposit',
              id: deposit.chainTxId,
              error: message(error),
            });
            await advance(deposit.next);
            continue;
          }
          if (owner.chain !== chain.chain) {
            await advance(deposit.next);
            continue;
          }
          await chain.prepareWallet(owner);
        }
        const output = {
          chain: chain.chain,
          chainTxId: deposit.chainTxId,
          outputIndex: deposit.outputIndex,
        };
        const state = `${deposit.block.height}:${deposit.block.hash}:${deposit.confirmations}`;
        belowDepth.delete(depositKey);
        if (deposit.confirmations < chain.confirmations) {
          belowDepth.set(depositKey, {
            chainTxId: deposit.chainTxId,
            outputIndex: deposit.outputIndex,
            block: deposit.block,
          });
          if (belowDepth.size > reportedDepositsMax) {
            const oldest = belowDepth.keys().next();
            if (oldest.done !== true) belowDepth.delete(oldest.value);
          }
        }
        if (reported.get(depositKey) === state) {
          await advance(deposit.next);
          continue;
        }
        const seen = await ledger.submit(
          'custody',
          'deposit_seen',
          {
            ...output,
            address: deposit.address,
            asset: deposit.asset,
            amount: deposit.amount,
            blockHeight: deposit.block.height,
            blockHash: deposit.block.hash,
          },
          { wait: 'commit' },
        );
        if (seen.status === 'Invalid' && depositRefusedForGood.has(seen.code ?? '')) {
          belowDepth.delete(depositKey);
          counts.refused += 1;
          emit({
            kind: 'error',
            action: 'deposit_refused',
            id: deposit.chainTxId,
            error: `the ledger refused the report of deposit ${deposit.chainTxId}/${deposit.outputIndex} for good (${String(seen.code)} ${seen.message ?? ''}, transaction ${seen.txId}); the scan goes past it`,
          });
          await advance(deposit.next);
          continue;
        }
        mustCommit(seen, `custody deposit_seen ${deposit.chainTxId}`);
        emit({
          kind: 'step',
          action: 'deposit_seen',
          id: deposit.chainTxId,
          state: 'deposit_seen',
        });
        await submit(
          'deposit_confirmations',
          { ...output, confirmations: deposit.confirmations },
          deposit.chainTxId,
        );
        counts.deposits += 1;
        reported.delete(depositKey);
        reported.set(depositKey, state);
        if (reported.size > reportedDepositsMax) {
          const oldest = reported.keys().next();
          if (oldest.done !== true) reported.delete(oldest.value);
        }
        // Both reports are committed: only now may the cursor (and its file) pass this deposit.
        await advance(deposit.next);
      }
      await advance(scan.cursor);
    });

    // Deposits reported below the depth that this scan did not show again: gone with their block?
    const inBlock = chain.depositInBlock;
    if (inBlock !== undefined) {
      for (const [key, item] of [...belowDepth]) {
        if (shown.has(key)) continue;
        await guarded('deposit_dropped', item.chainTxId, async () => {
          if (await inBlock({ chainTxId: item.chainTxId, block: item.block })) return;
          await submit(
            'deposit_dropped',
            {
              chain: chain.chain,
              chainTxId: item.chainTxId,
              outputIndex: item.outputIndex,
              reason: `block ${item.block.height} ${item.block.hash} is no longer on the chain`,
            },
            item.chainTxId,
          );
          belowDepth.delete(key);
          reported.delete(key);
          counts.dropped += 1;
        });
      }
    }

    const [approved, built, serviceSigned, platformSigned, broadcast] = await Promise.all([
      open('approved'),
      open('built'),
      open('service_signed'),
      open('platform_signed'),
      open('broadcast'),
    ]);

    await Promise.all([
      eachLimited(approved, (record) =>
        guarded('build', record.id, async () => {
          const owner = await wallet(record.walletId);
          await chain.prepareWallet(owner);
          const built = await chain.build(record, owner);
          await submit('build', { withdrawalId: record.id, ...built }, record.id);
          counts.built += 1;
        }),
      ),
      // A rebuilt withdrawal waiting for signatures: its earlier transaction may confirm first.
      eachLimited(
        built.filter((record) => record.replaced.length > 0),
        (record) =>
          guarded('confirm', record.id, async () => {
            await earlierConfirmed(record);
          }),
      ),
      eachLimited(serviceSigned, (record) =>
        guarded('platform_sign', record.id, async () => {
          if (await earlierConfirmed(record)) return;
          if (record.digests === null) throw new Error(`withdrawal ${record.id} has no digests`);
          const receipt = await ledger.receipt(await serviceSignTx(record.id));
          const signed = await signer.sign({
            walletId: record.walletId,
            withdrawalId: record.id,
            digests: record.digests,
            keyId: record.platformKey.keyId,
            receipt,
          });
          await submit(
            'platform_sign',
            { withdrawalId: record.id, signatures: signed.signatures },
            record.id,
          );
          counts.platformSigned += 1;
        }),
      ),
      eachLimited(platformSigned, (record) =>
        guarded('broadcast', record.id, async () => {
          if (await earlierConfirmed(record)) return;
          if (record.serviceSignatures === null || record.platformSignatures === null)
            throw new Error(`withdrawal ${record.id} lacks a signature`);
          const sent = await chain.broadcast(record, await wallet(record.walletId), [
            record.serviceSignatures,
            record.platformSignatures,
          ]);
          if ('failed' in sent) {
            // Its coins went to an earlier transaction of the same withdrawal: that one is
            // followed to its confirmation, never failed.
            if (record.replaced.length > 0)
              throw new Error(
                `withdrawal ${record.id}'s replacement was not sent (${sent.failed}); its earlier transaction is followed`,
              );
            await submit(
              'fail',
              { withdrawalId: record.id, reason: sent.failed.slice(0, 200) },
              record.id,
            );
            counts.failed += 1;
            return;
          }
          await submit(
            'broadcast',
            { withdrawalId: record.id, chainTxId: sent.chainTxId },
            record.id,
          );
          counts.broadcast += 1;
          // Ledger-native transfers are final once committed: confirm in the same pass.
          await confirm({ ...record, chainTxId: sent.chainTxId });
        }),
      ),
      eachLimited(broadcast, (record) => guarded('confirm', record.id, () => confirm(record))),
    ]);
    return counts;

    /** Confirms a rebuilt withdrawal whose earlier transaction reached the depth; whether it did. */
    async function earlierConfirmed(record: WithdrawalRecord): Promise<boolean> {
      for (const earlier of record.replaced) {
        const status = await chain.follow(earlier.chainTxId);
        if (status.state !== 'confirmed' || status.confirmations < chain.confirmations) continue;
        await submit(
          'confirm',
          {
            withdrawalId: record.id,
            blockHeight: status.block.height,
            blockHash: status.block.hash,
            chainTxId: earlier.chainTxId,
          },
          record.id,
        );
        counts.confirmed += 1;
        return true;
      }
      return false;
    }

    async function confirm(record: WithdrawalRecord): Promise<void> {
      if (record.chainTxId === null) throw new Error(`withdrawal ${record.id} has no chain tx`);
      if (await earlierConfirmed(record)) return;
      const status = await chain.follow(record.chainTxId);
      if (status.state === 'confirmed' && status.confirmations >= chain.confirmations) {
        await submit(
          'confirm',
          {
            withdrawalId: record.id,
            blockHeight: status.block.height,
            blockHash: status.block.hash,
          },
          record.id,
        );
        counts.confirmed += 1;
      } else if (status.state === 'failed') {
        if (record.replaced.length > 0)
          throw new Error(
            `withdrawal ${record.id}: ${status.reason}; its earlier transaction is followed`,
          );
        await submit(
          'fail',
          { withdrawalId: record.id, reason: status.reason.slice(0, 200) },
          record.id,
        );
        counts.failed += 1;
      } else if (
        status.state === 'pending' &&
        chain.bump !== undefined &&
        clock() - record.updatedAt >= bumpAfterMs
      ) {
        const replacement = await chain.bump(record, await wallet(record.walletId));
        if (replacement === null) return;
        await submit('rebuild', { withdrawalId: record.id, ...replacement }, record.id);
        counts.rebuilt += 1;
      } else if (
        status.state === 'pending' &&
        chain.unstick !== undefined &&
        clock() - record.updatedAt >= bumpAfterMs
      ) {
        const chainTxId = await chain.unstick(record.chainTxId);
        if (chainTxId === null) return;
        await submit('rebroadcast', { withdrawalId: record.id, chainTxId }, record.id);
        counts.rebuilt += 1;
      }
    }
  };

  const loop = () => {
    if (stopped) return;
    running = step().finally(() => {
      if (!stopped) timer = setTimeout(loop, options.pollMs ?? workerPollMsDefault);
    });
  };

  return {
    step,
    start: () => {
      stopped = false;
      loop();
    },
    stop: async () => {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      await running;
    },
  };
}
