// Runs the custody app the way execution does, against an in-memory store: one action per
// transaction, its writes kept only when it succeeds, map ownership enforced (an app touches
// only its own maps), `readPublic` over public maps. Callers are made up per (MSP, name), as in
// the governance tests; worker identities are listed in the custody parameters it writes.
import { createHash } from 'node:crypto';
import { p256 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { ActionContext, App, Caller, KvWriter } from '../../src/contracts/index.js';
import { custodyApp, type Curve } from '../../src/custody/index.js';
import { isCofferError } from '../../src/errors/index.js';
import { appOwns } from '../../src/ledger/execute.js';
import { createStore, type Store, type Tx, type WriteSet } from '../../src/ledger/store.js';

export type Outcome =
  | { readonly ok: true; readonly result: Record<string, unknown>; readonly writeSet: WriteSet }
  | { readonly ok: false; readonly code: string; readonly message: string };

export function identity(mspId: string, name: string, role: Caller['role'] = 'client'): Caller {
  return {
    mspId,
    identityId: createHash('sha256').update(`${mspId}/${name}`).digest('hex'),
    role,
    isAdmin: role === 'admin',
  };
}

export const principal = (caller: Caller): string => `${caller.mspId}:${caller.identityId}`;

/** The cast of the tests. */
export const cast = {
  svc: identity('Org1MSP', 'svc'),
  svc2: identity('Org2MSP', 'svc2'),
  user: identity('Org1MSP', 'user'),
  admin1: identity('Org1MSP', 'admin1', 'admin'),
  admin1b: identity('Org1MSP', 'admin1b', 'admin'),
  admin2: identity('Org2MSP', 'admin2', 'admin'),
  admin3: identity('Org3MSP', 'admin3', 'admin'),
  worker: identity('Org1MSP', 'worker', 'peer'),
  ethworker: identity('Org2MSP', 'ethworker', 'peer'),
  peer: identity('Org3MSP', 'peer', 'peer'),
} as const;
export type Who = keyof typeof cast;

/** Parameters the tests start from: the cast's workers, quorum 2. */
export function baseParams(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    policyQuorum: 2,
    chains: {
      coffer: { confirmations: 3, workers: [principal(cast.worker)] },
      ethereum: { confirmations: 12, workers: [principal(cast.ethworker)] },
    },
    ...extra,
  };
}

export type Driver = {
  readonly store: Store;
  /** One transaction; `time` defaults to the driver's clock, which advances 1 s per call. */
  readonly run: (
    who: Caller,
    action: string,
    args: Record<string, unknown>,
    options?: { readonly time?: number; readonly trigger?: string; readonly app?: string },
  ) => Outcome & { readonly txId: string };
  readonly query: (
    who: Caller | undefined,
    name: string,
    args?: Record<string, unknown>,
  ) => Outcome;
  /** Writes `custody` (and a `members` marker) of public:gov.config, as a set_custody would. */
  readonly setParams: (custody: unknown) => void;
  /** Every custody.* and public:custody.* value, for "nothing moved" checks. */
  readonly snapshot: () => string;
  readonly now: () => number;
  readonly advance: (ms: number) => void;
};

export function createDriver(
  options: {
    readonly params?: unknown;
    readonly start?: number;
    /** Other apps the driver runs (`options.app` of run), e.g. governance. */
    readonly apps?: readonly App[];
    /** Writes applied first, e.g. a genesis configuration. */
    readonly writes?: WriteSet;
  } = {},
): Driver {
  const store = createStore();
  const apps = new Map<string, App>([[custodyApp.name, custodyApp]]);
  for (const app of options.apps ?? []) apps.set(app.name, app);
  let txCount = 0;
  let time = options.start ?? 1_800_000_000_000;

  const guarded = (app: string, tx: Tx): KvWriter => {
    const guard = (map: string): void => {
      if (!appOwns(app, map)) throw new Error(`${app} touched map ${map}, which it does not own`);
    };
    return {
      get: (map, key) => {
        guard(map);
        return tx.get(map, key);
      },
      put: (map, key, value) => {
        guard(map);
        tx.put(map, key, value);
      },
      delete: (map, key) => {
        guard(map);
        tx.delete(map, key);
      },
    };
  };
  const readPublicOf =
    (read: (map: string, key: string) => string | undefined) =>
    (map: string, key: string): string | undefined => {
      if (!map.startsWith('public:')) throw new Error(`map ${map} is not public`);
      return read(map, key);
    };

  const apply = (writeSet: WriteSet): void => {
    store.apply(writeSet, store.seqno() + 1);
  };
  if (options.writes !== undefined) apply(options.writes);

  const setParams = (custody: unknown): void => {
    apply([
      { map: 'public:gov.config', key: 'custody', value: JSON.stringify(custody) },
      { map: 'public:gov.config', key: 'members', value: '["Org1MSP","Org2MSP","Org3MSP"]' },
    ]);
  };
  if (options.params !== undefined) setParams(options.params);

  return {
    store,
    run: (who, action, args, runOptions = {}) => {
      const at = runOptions.time ?? time;
      time = Math.max(time, at) + 1000;
      const txId = createHash('sha256')
        .update(`custody test tx ${++txCount} ${action}`)
        .digest('hex');
      const appName = runOptions.app ?? custodyApp.name;
      const app = apps.get(appName);
      const handler = app?.actions[action];
      if (app === undefined || handler === undefined) throw new Error(`no ${appName}/${action}`);
      const tx = store.begin();
      const context: ActionContext = {
        caller: who,
        txId,
        time: at,
        kv: guarded(app.name, tx),
        readPublic: readPublicOf(tx.get),
        ...(runOptions.trigger === undefined ? {} : { trigger: runOptions.trigger }),
      };
      try {
        const result = JSON.parse(JSON.stringify(handler.run(context, args) ?? {})) as Record<
          string,
          unknown
        >;
        const writeSet = tx.writeSet();
        apply(writeSet);
        return { ok: true, result, writeSet, txId };
      } catch (error) {
        if (!isCofferError(error)) throw error;
        return { ok: false, code: error.code, message: error.message, txId };
      }
    },
    query: (who, name, args = {}) => {
      const handler = custodyApp.queries[name];
      if (handler === undefined) throw new Error(`no query ${name}`);
      try {
        const result = handler.run(
          {
            caller: who,
            kv: {
              get: (map, key) => {
                if (!appOwns('custody', map)) throw new Error(`query read ${map}`);
                return store.read(map, key);
              },
            },
            readPublic: readPublicOf(store.read),
          },
          args,
        );
        return {
          ok: true,
          result: JSON.parse(JSON.stringify(result)) as Record<string, unknown>,
          writeSet: [],
        };
      } catch (error) {
        if (!isCofferError(error)) throw error;
        return { ok: false, code: error.code, message: error.message };
      }
    },
    setParams,
    snapshot: () =>
      JSON.stringify(
        store
          .maps()
          .filter((map) => appOwns('custody', map))
          .map((map) => [map, [...store.entries(map)]]),
      ),
    now: () => time,
    advance: (ms) => {
      time += ms;
    },
  };
}

// --- keys -------------------------------------------------------------------------------------

const curveImpl = { secp256k1, 'P-256': p256 } as const;

export type TestKey = {
  readonly publicKey: string;
  readonly compressed: string;
  /** Signs a digest (hex) as chains do: ECDSA over the digest itself, low-S, DER hex. */
  readonly sign: (digestHex: string, format?: 'der' | 'compact') => string;
};

export function testKey(curve: Curve, seed: string): TestKey {
  const secret = createHash('sha256').update(`custody test key ${seed}`).digest();
  const impl = curveImpl[curve];
  return {
    publicKey: Buffer.from(impl.getPublicKey(secret, false)).toString('hex'),
    compressed: Buffer.from(impl.getPublicKey(secret, true)).toString('hex'),
    sign: (digestHex, format = 'der') =>
      Buffer.from(
        impl.sign(Buffer.from(digestHex, 'hex'), secret, { prehash: false, format }),
      ).toString('hex'),
  };
}

export type WalletKeys = {
  readonly offline: TestKey;
  readonly service: TestKey;
  readonly platform: TestKey;
};

export function walletKeys(curve: Curve, seed = 'w'): WalletKeys {
  return {
    offline: testKey(curve, `${seed}/offline`),
    service: testKey(curve, `${seed}/service`),
    platform: testKey(curve, `${seed}/platform`),
  };
}

export function keysArg(
  keys: WalletKeys,
  curve: Curve,
  keyId = 'hsm-key-1',
): Record<string, unknown> {
  return {
    offline: keys.offline.publicKey,
    service: keys.service.publicKey,
    platform: { keyId, publicKey: keys.platform.publicKey, curve },
  };
}

/** A coffer-chain unsigned transaction and its one digest (SHA-256 of the bytes). */
export function cofferTx(seed: string): { unsignedTx: string; digests: [string] } {
  const unsignedTx = Buffer.from(JSON.stringify({ transfer: seed })).toString('hex');
  const digest = createHash('sha256').update(Buffer.from(unsignedTx, 'hex')).digest('hex');
  return { unsignedTx, digests: [digest] };
}

/** A coffer address (token account) per name. */
export function cofferAddress(name: string): string {
  return `Org9MSP:${createHash('sha256').update(`address ${name}`).digest('hex')}`;
}
