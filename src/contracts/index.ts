// Public surface of the contracts domain: the app interface, the built-in apps, and sandboxed
// apps (QuickJS bundles installed through the `apps` app, decision 0014).
import { appsApp } from './apps.js';
import { kvApp } from './kv.js';
import { oraclesApp } from './oracles.js';
import { tokenApp } from './token.js';
import type { App, AppRegistry } from './types.js';

export type {
  Action,
  ActionContext,
  App,
  AppRegistry,
  ArgsSchema,
  Caller,
  CallerRole,
  KvView,
  KvWriter,
  Query,
  QueryContext,
} from './types.js';
export { kvApp, kvKeyCharsMax, kvValueCharsMax } from './kv.js';
export { readJson } from './json.js';
export { accountOf, tokenApp, tokenAmountMax } from './token.js';
export { appsApp, governanceTrigger, governedMarker } from './apps.js';
export { feedsMap, oraclesApp } from './oracles.js';
export type { Feed, Point } from './oracles.js';
export type { AppHost, InstalledRecord, Trigger } from './sandbox/installed.js';
export {
  bundlesMap,
  compiledByDigest,
  installedMap,
  installedRecord,
  openAppHost,
  pointsMap,
  triggersMap,
} from './sandbox/installed.js';
export type {
  AuthPolicy,
  Bundle,
  CompiledBundle,
  CompiledEndpoint,
  EndpointMode,
  EndpointSpec,
  Manifest,
} from './sandbox/manifest.js';
export { bundleFormat, compareVersions, compileBundle } from './sandbox/manifest.js';
export * as sandboxLimits from './sandbox/limits.js';

/** The apps every node runs today. */
export function builtInApps(): AppRegistry {
  const apps: App[] = [kvApp, tokenApp, appsApp, oraclesApp];
  return new Map(apps.map((app) => [app.name, app]));
}
