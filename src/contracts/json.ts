// JSON records in an app's maps: what built-in apps (custody, the EVM) keep as one JSON value
// per key.
import type { KvView } from './types.js';

/** The JSON value at (map, key), as the caller's stored shape; undefined when absent. */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the stored shape
export function readJson<T>(kv: KvView, map: string, key: string): T | undefined {
  const text = kv.get(map, key);
  return text === undefined ? undefined : (JSON.parse(text) as T);
}
