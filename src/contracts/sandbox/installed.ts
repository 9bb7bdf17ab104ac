// Installed sandboxed apps: where the `apps` app keeps them in the store, and the adapter that
// makes an installed bundle look like any other App to execution. What runs is read from the
// store at the ledger position of the call, so every node runs the same version.
import { createHash } from 'node:crypto';
import { cofferError } from '../../errors/index.js';
import type { Action, ActionContext, App, AppRegistry, Caller, Query } from '../types.js';
import { authorize } from './auth.js';
import { compiledAppsCachedMax, batchRuntimesMax } from './limits.js';
import {
  compileBundle,
  schemaError,
  type CompiledBundle,
  type CompiledEndpoint,
} from './manifest.js';
import { createAppVm, type AppVm, type VmHost, type VmInstance } from './vm.js';

/** App name → InstalledRecord (JSON). */
export const installedMap = 'public:apps.installed';
/** Bundle digest → the bundle's canonical JSON. */
export const bundlesMap = 'public:apps.bundles';
/** Oracle feed → JSON array of {app, endpoint} to run when a point arrives, sorted by app. */
export const triggersMap = 'public:apps.triggers';
/** Oracle feed → its latest point (written by the oracles app). */
export const pointsMap = 'public:oracles.points';

export type InstalledRecord = {
  readonly name: string;
  readonly version: string;
  readonly digest: string;
  readonly installedAt: number;
  readonly installedBy: string;
  readonly txId: string;
};

export type Trigger = { readonly app: string; readonly endpoint: string };

type Read = (map: string, key: string) => string | undefined;

// Parsing and schema compilation are pure functions of the bundle bytes: memoised by digest.
const compiledCache = new Map<string, CompiledBundle>();

/** The compiled bundle stored under a digest (bundles are checked before they are stored). */
export function compiledByDigest(read: Read, digest: string): CompiledBundle | undefined {
  const cached = compiledCache.get(digest);
  if (cached !== undefined) {
    compiledCache.delete(digest);
    compiledCache.set(digest, cached);
    return cached;
  }
  const text = read(bundlesMap, digest);
  if (text === undefined) return undefined;
  const compiled = compileBundle(JSON.parse(text));
  remember(compiled);
  return compiled;
}

export function remember(compiled: CompiledBundle): void {
  compiledCache.set(compiled.digest, compiled);
  while (compiledCache.size > compiledAppsCachedMax) {
    const oldest = compiledCache.keys().next().value;
    if (oldest === undefined) break;
    compiledCache.delete(oldest);
  }
}

export function installedRecord(read: Read, name: string): InstalledRecord | undefined {
  const text = read(installedMap, name);
  return text === undefined ? undefined : (JSON.parse(text) as InstalledRecord);
}

/** Four 32-bit words from SHA-256(txId:endpoint): the call's deterministic random seed. */
function seedOf(txId: string | null, endpoint: string): [number, number, number, number] {
  const digest = createHash('sha256')
    .update(`${txId ?? 'query'}:${endpoint}`)
    .digest();
  return [
    digest.readUInt32BE(0),
    digest.readUInt32BE(4),
    digest.readUInt32BE(8),
    digest.readUInt32BE(12),
  ];
}

/** Resolves app names to apps: built-ins first, then installed bundles, each VM reused. */
export type AppHost = {
  readonly resolve: (name: string, read: Read) => App | undefined;
  /** Disposes every VM this host made. */
  readonly close: () => void;
};

type CallArgs = {
  readonly endpoint: CompiledEndpoint;
  readonly args: Readonly<Record<string, unknown>>;
  readonly caller: Caller | undefined;
  /** Co-signers of the request (envelope endorsements): they count for the endpoint's policy. */
  readonly endorsers: readonly Caller[];
  readonly txId: string | null;
  readonly time: number | null;
  readonly trigger: string | undefined;
  readonly kv: {
    readonly get: (map: string, key: string) => string | undefined;
    readonly put?: (map: string, key: string, value: string) => void;
    readonly delete?: (map: string, key: string) => void;
  };
  readonly readPublic: ((map: string, key: string) => string | undefined) | undefined;
};

/**
 * Opens a host over the built-in apps. Execution opens one per batch (every node runs the same
 * batch from the same state, so a VM reused within it has the same history on every node);
 * a query opens one for itself. `instance` picks the QuickJS instance (decision 0014).
 */
export function openAppHost(builtIns: AppRegistry, instance: VmInstance): AppHost {
  const vms = new Map<string, AppVm>();

  const vmFor = (compiled: CompiledBundle): AppVm => {
    const existing = vms.get(compiled.digest);
    if (existing !== undefined && !existing.spent()) return existing;
    existing?.dispose();
    vms.delete(compiled.digest);
    if (vms.size >= batchRuntimesMax) {
      // Deterministic: the oldest VM made in this batch goes first.
      const oldest = vms.keys().next().value;
      if (oldest !== undefined) {
        vms.get(oldest)?.dispose();
        vms.delete(oldest);
      }
    }
    const vm = createAppVm(compiled.bundle.manifest.name, compiled.bundle.code, instance);
    vms.set(compiled.digest, vm);
    return vm;
  };

  const call = (compiled: CompiledBundle, input: CallArgs): unknown => {
    const { endpoint, args } = input;
    const name = compiled.bundle.manifest.name;
    authorize(name, endpoint, input.caller, input.trigger, input.endorsers);
    if (!endpoint.validateInput(args)) {
      throw cofferError(
        'APP_E_INVALID_ARGS',
        `${name}/${endpoint.name}: args ${schemaError(endpoint.validateInput)}`,
        { field: 'args' },
      );
    }
    const readonly = endpoint.mode === 'readonly';
    const write = (op: string): never => {
      throw cofferError(
        'APP_E_READONLY',
        `${name}/${endpoint.name} is ${readonly ? 'readonly and tried to ' + op : 'called as a query and tried to ' + op}`,
      );
    };
    const { kv } = input;
    const host: VmHost = {
      get: kv.get,
      put: (map, key, value) => {
        if (readonly || kv.put === undefined) write('write');
        else kv.put(map, key, value);
      },
      delete: (map, key) => {
        if (readonly || kv.delete === undefined) write('delete');
        else kv.delete(map, key);
      },
      oracle: (feed) => input.readPublic?.(pointsMap, feed),
    };
    const outcome = vmFor(compiled).call(
      endpoint.name,
      args,
      {
        app: name,
        caller: input.caller ?? null,
        txId: input.txId,
        time: input.time,
        readonly,
        seed: seedOf(input.txId, endpoint.name),
      },
      host,
    );
    if (!outcome.ok) throw outcome.error;
    if (!endpoint.validateOutput(outcome.result)) {
      throw cofferError(
        'APP_E_OUTPUT_INVALID',
        `${name}/${endpoint.name} returned a result whose ${schemaError(endpoint.validateOutput)}`,
      );
    }
    return outcome.result;
  };

  const adapt = (compiled: CompiledBundle): App => {
    const actions: Record<string, Action> = {};
    const queries: Record<string, Query> = {};
    for (const endpoint of compiled.endpoints.values()) {
      actions[endpoint.name] = {
        summary: endpoint.summary,
        args: endpoint.input,
        run: (context: ActionContext, args) =>
          call(compiled, {
            endpoint,
            args,
            caller: context.caller,
            endorsers: context.endorsers ?? [],
            txId: context.txId,
            time: context.time,
            trigger: context.trigger,
            kv: context.kv,
            readPublic: context.readPublic,
          }),
      };
      if (endpoint.mode === 'readonly') {
        queries[endpoint.name] = {
          summary: endpoint.summary,
          args: endpoint.input,
          run: (context, args) =>
            call(compiled, {
              endpoint,
              args,
              caller: context.caller,
              endorsers: [],
              txId: null,
              time: null,
              trigger: undefined,
              kv: { get: context.kv.get },
              readPublic: context.readPublic,
            }),
        };
      }
    }
    const { manifest } = compiled.bundle;
    return {
      name: manifest.name,
      version: manifest.version,
      summary: manifest.summary,
      actions,
      queries,
    };
  };

  return {
    resolve: (name, read) => {
      const builtIn = builtIns.get(name);
      if (builtIn !== undefined) return builtIn;
      const record = installedRecord(read, name);
      if (record === undefined) return undefined;
      const compiled = compiledByDigest(read, record.digest);
      return compiled === undefined ? undefined : adapt(compiled);
    },
    close: () => {
      for (const vm of vms.values()) vm.dispose();
      vms.clear();
    },
  };
}

/** The exported function names of a bundle's code, run once in a fresh VM (install check). */
export function exportedFunctions(compiled: CompiledBundle, instance: VmInstance): string[] {
  const vm = createAppVm(compiled.bundle.manifest.name, compiled.bundle.code, instance);
  try {
    const outcome = vm.call(
      null,
      null,
      {
        app: compiled.bundle.manifest.name,
        caller: null,
        txId: null,
        time: null,
        readonly: true,
        seed: [0, 0, 0, 0],
      },
      {
        get: () => undefined,
        put: () => undefined,
        delete: () => undefined,
        oracle: () => undefined,
      },
    );
    if (!outcome.ok) {
      throw cofferError(
        'APP_E_BUNDLE_INVALID',
        `bundle.code fails when loaded: ${outcome.error.message}`,
        { field: 'bundle.code' },
      );
    }
    return Array.isArray(outcome.result) ? outcome.result.map(String) : [];
  } finally {
    vm.dispose();
  }
}
