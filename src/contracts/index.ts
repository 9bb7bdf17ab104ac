// Public surface of the contracts domain: the app interface and the built-in apps.
import { kvApp } from './kv.js';
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
export { accountOf, tokenApp, tokenAmountMax } from './token.js';

/** The apps every node runs today. */
export function builtInApps(): AppRegistry {
  const apps: App[] = [kvApp, tokenApp];
  return new Map(apps.map((app) => [app.name, app]));
}
