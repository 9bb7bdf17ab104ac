// A local test harness for app authors (decision 0014): runs apps' endpoints against an
// in-memory store in plain Node tests, through the same code path as execution on the ledger
// (runCall: app resolution from the store, map ownership, sandbox, limits), without MSPs,
// signatures or a node. Callers are made up: `harness.caller('Org1MSP', 'client')`.
import { createHash } from 'node:crypto';
import { cofferError, isCofferError, type ErrorCode } from '../errors/index.js';
import { appOwns, runCall } from '../ledger/execute.js';
import { createStore, type Store, type WriteSet } from '../ledger/store.js';
import { builtInApps } from './index.js';
import { openAppHost } from './sandbox/installed.js';
import type { App, Caller, CallerRole } from './types.js';

export type HarnessOutcome =
  | { readonly status: 'committed'; readonly result: unknown; readonly writeSet: WriteSet }
  | { readonly status: 'invalid'; readonly code: ErrorCode; readonly message: string };

export type HarnessCall = {
  readonly app: string;
  readonly action: string;
  readonly args?: Readonly<Record<string, unknown>>;
  readonly caller: Caller;
};

export type AppHarness = {
  readonly store: Store;
  /** A made-up caller; its identity id is the SHA-256 of `mspId/name`. */
  readonly caller: (mspId: string, role?: CallerRole, name?: string) => Caller;
  /** Installs (or upgrades) a bundle as an MSP admin of Org1MSP unless told otherwise. */
  readonly install: (bundle: unknown, caller?: Caller) => HarnessOutcome;
  /** Runs calls as one batch (one VM per app across them, as on a node); applies writes. */
  readonly batch: (calls: readonly HarnessCall[], time?: number) => HarnessOutcome[];
  /** Runs one call as a transaction of its own. */
  readonly call: (call: HarnessCall, time?: number) => HarnessOutcome;
  /** Runs a readonly endpoint (or a built-in query) on the current state. */
  readonly query: (
    app: string,
    name: string,
    args?: Readonly<Record<string, unknown>>,
    caller?: Caller,
  ) => HarnessOutcome;
  /** The batch time of the next call when none is given; each call advances it by 1 ms. */
  readonly now: () => number;
};

export function createAppHarness(
  options: { readonly startTime?: number; readonly extraApps?: readonly App[] } = {},
): AppHarness {
  const store = createStore();
  const apps = new Map([
    ...builtInApps(),
    ...(options.extraApps ?? []).map((app) => [app.name, app] as const),
  ]);
  let time = options.startTime ?? 1_800_000_000_000;
  let seqno = 0;
  const caller = (mspId: string, role: CallerRole = 'client', name: string = role): Caller => ({
    mspId,
    identityId: createHash('sha256').update(`${mspId}/${name}`).digest('hex'),
    role,
    isAdmin: role === 'admin',
  });

  const batch: AppHarness['batch'] = (calls, at) => {
    const host = openAppHost(apps, 'execution');
    const batchTime = Math.max(at ?? time, time);
    time = batchTime + 1;
    try {
      return calls.map((item) => {
        seqno++;
        const txId = createHash('sha256').update(`harness tx ${seqno}`).digest('hex');
        try {
          const { result, writeSet } = runCall(store, host, {
            app: item.app,
            action: item.action,
            args: item.args ?? {},
            caller: item.caller,
            txId,
            time: batchTime,
          });
          store.apply(writeSet, seqno);
          return { status: 'committed', result, writeSet };
        } catch (error) {
          if (!isCofferError(error)) throw error;
          return { status: 'invalid', code: error.code, message: error.message };
        }
      });
    } finally {
      host.close();
    }
  };

  const single = (call: HarnessCall, at?: number): HarnessOutcome => {
    const [outcome] = batch([call], at);
    if (outcome === undefined) throw new Error('harness: no outcome');
    return outcome;
  };

  return {
    store,
    caller,
    install: (bundle, who = caller('Org1MSP', 'admin')) =>
      single({
        app: 'apps',
        action: 'install',
        args: { bundle },
        caller: who,
      }),
    batch,
    call: single,
    query: (app, name, args = {}, who) => {
      const host = openAppHost(apps, 'query');
      try {
        const target = host.resolve(app, store.read);
        const handler =
          target !== undefined && Object.hasOwn(target.queries, name)
            ? target.queries[name]
            : undefined;
        if (handler === undefined) {
          return {
            status: 'invalid',
            code: 'TX_E_UNKNOWN_APP',
            message: `no query ${app}/${name}`,
          };
        }
        const result = handler.run(
          {
            caller: who,
            kv: {
              get: (map, key) => {
                if (!appOwns(app, map)) {
                  throw cofferError(
                    'APP_E_FAILED',
                    `query ${app}/${name} read map ${map}, which it does not own`,
                  );
                }
                return store.read(map, key);
              },
            },
            readPublic: (map, key) =>
              map.startsWith('public:') ? store.read(map, key) : undefined,
          },
          args,
        );
        return { status: 'committed', result, writeSet: [] };
      } catch (error) {
        if (!isCofferError(error)) throw error;
        return { status: 'invalid', code: error.code, message: error.message };
      } finally {
        host.close();
      }
    },
    now: () => time,
  };
}
