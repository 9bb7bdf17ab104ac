// The `apps` built-in app: installs and upgrades sandboxed apps (decision 0014). A bundle is
// checked in full (manifest, schemas, policies, and its code loaded once in a sandbox to see
// that it exports every endpoint) before anything is written. On a ledger without governance an
// MSP admin of any member organisation may install; once the consortium's configuration lives
// in the ledger (issue 6), installs and removals come only from accepted governance proposals
// (the gov app invokes them with the `governance` trigger). An upgrade is a higher version.
import { cofferError } from '../errors/index.js';
import { canonicalString } from '../ledger/canonical.js';
import { invalidArgs, onlyFields, stringArg } from './args.js';
import {
  bundlesMap,
  exportedFunctions,
  installedMap,
  installedRecord,
  remember,
  triggersMap,
  type InstalledRecord,
  type Trigger,
} from './sandbox/installed.js';
import {
  appNamePattern,
  compareVersions,
  compileBundle,
  reservedAppNames,
  type CompiledBundle,
} from './sandbox/manifest.js';
import { feedTriggersMax } from './sandbox/limits.js';
import type { ActionContext, App, KvView } from './types.js';

/** The trigger the gov app invokes installs and removals with (no transaction can set it). */
export const governanceTrigger = 'governance';
/** Where the governance configuration lives (src/governance govConfigMap; present once governed). */
export const governedMarker = { map: 'public:gov.config', key: 'members' } as const;

/** Who may install or remove: governance once governed, else an MSP admin. */
function checkInstaller(context: ActionContext, what: string): void {
  const { caller } = context;
  const governed = context.readPublic?.(governedMarker.map, governedMarker.key) !== undefined;
  if (governed) {
    if (context.trigger === governanceTrigger) return;
    throw cofferError(
      'APP_E_FORBIDDEN',
      `the consortium governs its apps: ${what} through a governance proposal (gov propose with ${what === 'install' ? 'install_app' : 'remove_app'})`,
    );
  }
  if (!caller.isAdmin) {
    throw cofferError(
      'APP_E_FORBIDDEN',
      `only MSP admins may ${what} apps; ${caller.mspId} identity ${caller.identityId.slice(0, 16)}… is not an admin`,
    );
  }
}

function feedsOf(compiled: CompiledBundle): Map<string, string> {
  const feeds = new Map<string, string>();
  for (const endpoint of compiled.endpoints.values()) {
    if (endpoint.auth.kind === 'oracle') feeds.set(endpoint.auth.feed, endpoint.name);
  }
  return feeds;
}

function readTriggers(kv: KvView, feed: string): Trigger[] {
  const text = kv.get(triggersMap, feed);
  return text === undefined ? [] : (JSON.parse(text) as Trigger[]);
}

/** Replaces the app's trigger subscriptions (old version's feeds out, new version's in). */
function updateTriggers(
  context: ActionContext,
  name: string,
  previous: CompiledBundle | undefined,
  next: CompiledBundle,
): void {
  const nextFeeds = feedsOf(next);
  const feeds = new Set([
    ...(previous === undefined ? [] : feedsOf(previous).keys()),
    ...nextFeeds.keys(),
  ]);
  for (const feed of [...feeds].sort()) {
    const others = readTriggers(context.kv, feed).filter((item) => item.app !== name);
    const endpoint = nextFeeds.get(feed);
    const list = endpoint === undefined ? others : [...others, { app: name, endpoint }];
    list.sort((a, b) => (a.app < b.app ? -1 : a.app > b.app ? 1 : 0));
    if (list.length > feedTriggersMax) {
      throw cofferError(
        'APP_E_BUNDLE_INVALID',
        `oracle feed ${feed} already triggers ${feedTriggersMax} apps (feedTriggersMax)`,
        { field: 'manifest.endpoints' },
      );
    }
    if (list.length === 0) context.kv.delete(triggersMap, feed);
    else context.kv.put(triggersMap, feed, JSON.stringify(list));
  }
}

export const appsApp: App = {
  name: 'apps',
  version: '1.0.0',
  summary: 'Installs and upgrades sandboxed apps (QuickJS bundles from `coffer app build`).',
  actions: {
    install: {
      summary: 'Installs a bundle, or upgrades an app to a higher version (MSP admins only).',
      args: {
        type: 'object',
        required: ['bundle'],
        properties: { bundle: { type: 'object', description: 'a bundle from coffer app build' } },
      },
      run: (context, args) => {
        onlyFields(args, ['bundle']);
        const { caller } = context;
        checkInstaller(context, 'install');
        const compiled = compileBundle(args['bundle']);
        const { name, version } = compiled.bundle.manifest;
        if (reservedAppNames.has(name)) {
          throw cofferError('APP_E_NAME_RESERVED', `app name ${name} is reserved for Coffer`);
        }
        const previousRecord = installedRecord(context.kv.get, name);
        if (previousRecord !== undefined && compareVersions(version, previousRecord.version) <= 0) {
          throw cofferError(
            'APP_E_VERSION_NOT_NEWER',
            `${name} ${previousRecord.version} is installed; ${version} is not higher`,
            { installed: previousRecord.version },
          );
        }
        const exported = new Set(exportedFunctions(compiled, 'execution'));
        for (const endpoint of compiled.endpoints.keys()) {
          if (!exported.has(endpoint)) {
            throw cofferError(
              'APP_E_BUNDLE_INVALID',
              `bundle.code exports no function ${endpoint}, which the manifest declares`,
              { field: `manifest.endpoints.${endpoint}` },
            );
          }
        }
        const previousText =
          previousRecord === undefined
            ? undefined
            : context.kv.get(bundlesMap, previousRecord.digest);
        const previous =
          previousText === undefined ? undefined : compileBundle(JSON.parse(previousText));
        updateTriggers(context, name, previous, compiled);
        context.kv.put(bundlesMap, compiled.digest, canonicalString(compiled.bundle));
        const record: InstalledRecord = {
          name,
          version,
          digest: compiled.digest,
          installedAt: context.time,
          installedBy: `${caller.mspId}:${caller.identityId}`,
          txId: context.txId,
        };
        context.kv.put(installedMap, name, JSON.stringify(record));
        remember(compiled);
        return {
          ...record,
          previousVersion: previousRecord?.version ?? null,
          endpoints: [...compiled.endpoints.keys()],
        };
      },
    },
    remove: {
      summary:
        'Removes an installed app: its endpoints and oracle subscriptions go; its bundles stay in the ledger (MSP admins, or governance once governed).',
      args: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      run: (context, args) => {
        onlyFields(args, ['name']);
        checkInstaller(context, 'remove');
        const name = stringArg(args, 'name', appNamePattern, 32);
        const record = installedRecord(context.kv.get, name);
        if (record === undefined) invalidArgs('name', `${name} is not installed`);
        const text = context.kv.get(bundlesMap, record.digest);
        if (text !== undefined) {
          const compiled = compileBundle(JSON.parse(text));
          for (const feed of [...feedsOf(compiled).keys()].sort()) {
            const others = readTriggers(context.kv, feed).filter((item) => item.app !== name);
            if (others.length === 0) context.kv.delete(triggersMap, feed);
            else context.kv.put(triggersMap, feed, JSON.stringify(others));
          }
        }
        context.kv.delete(installedMap, name);
        return { name, removedVersion: record.version };
      },
    },
  },
  queries: {
    get: {
      summary: 'The installed version of an app and its manifest.',
      args: { type: 'object', required: ['name'], properties: { name: { type: 'string' } } },
      run: (context, args) => {
        onlyFields(args, ['name']);
        const name = stringArg(args, 'name', appNamePattern, 32);
        const record = installedRecord(context.kv.get, name);
        if (record === undefined) invalidArgs('name', `${name} is not installed`);
        const text = context.kv.get(bundlesMap, record.digest);
        const bundle = text === undefined ? undefined : (JSON.parse(text) as { manifest: unknown });
        return { ...record, manifest: bundle?.manifest ?? null };
      },
    },
  },
};
