// How custody records sit in the KV store: JSON values, bounded lists, paged lists (history,
// per-wallet logs) and the audit history. Apps see no iteration over a map, so every list a
// query needs is kept as an index here, each with a limit.
import assert from 'node:assert/strict';
import { cofferError } from '../errors/index.js';
import { readJson, type KvView, type KvWriter } from '../contracts/index.js';
import { historyEntriesPerObjectMax, pageEntriesMax } from './limits.js';
import {
  historyMap,
  indexMap,
  type HistoryEntry,
  type HistoryKind,
  type Principal,
} from './types.js';

export function principalOf(caller: Principal): string {
  return `${caller.mspId}:${caller.identityId}`;
}

export function samePrincipal(a: Principal, b: Principal): boolean {
  return a.mspId === b.mspId && a.identityId === b.identityId;
}

export { readJson };

export function writeJson(kv: KvWriter, map: string, key: string, value: unknown): void {
  kv.put(map, key, JSON.stringify(value));
}

export function capacity(limit: string, max: number, what: string): never {
  throw cofferError('CUSTODY_E_CAPACITY', `${what}: at most ${max} (${limit})`, { limit, max });
}

// --- bounded lists (one value) ----------------------------------------------------------------

export function readList(kv: KvView, key: string): string[] {
  return readJson<string[]>(kv, indexMap, key) ?? [];
}

export function listAdd(
  kv: KvWriter,
  key: string,
  item: string,
  max: number,
  limit: string,
  what: string,
): void {
  const list = readList(kv, key);
  if (list.includes(item)) return;
  if (list.length >= max) capacity(limit, max, what);
  list.push(item);
  writeJson(kv, indexMap, key, list);
}

export function listRemove(kv: KvWriter, key: string, item: string): void {
  const list = readList(kv, key);
  const next = list.filter((entry) => entry !== item);
  if (next.length === list.length) return;
  if (next.length === 0) kv.delete(indexMap, key);
  else writeJson(kv, indexMap, key, next);
}

// --- paged lists: `<prefix>` → count, `<prefix>/<page>` → up to pageEntriesMax items ----------

export function pagedCount(kv: KvView, map: string, prefix: string): number {
  const text = kv.get(map, prefix);
  return text === undefined ? 0 : Number(text);
}

export function pagedAppend(
  kv: KvWriter,
  map: string,
  prefix: string,
  item: unknown,
  max: number,
  limit: string,
  what: string,
): number {
  const count = pagedCount(kv, map, prefix);
  if (count >= max) capacity(limit, max, what);
  const pageKey = `${prefix}/${Math.floor(count / pageEntriesMax)}`;
  const page = readJson<unknown[]>(kv, map, pageKey) ?? [];
  assert.equal(page.length, count % pageEntriesMax, `paged list ${prefix} out of step`);
  page.push(item);
  writeJson(kv, map, pageKey, page);
  kv.put(map, prefix, String(count + 1));
  return count;
}

/** Items [from, to) of a paged list, oldest first. */
export function pagedSlice<T>(
  kv: KvView,
  map: string,
  prefix: string,
  from: number,
  to: number,
): T[] {
  const out: T[] = [];
  let pageNo = -1;
  let page: T[] = [];
  for (let index = Math.max(0, from); index < to; index++) {
    const want = Math.floor(index / pageEntriesMax);
    if (want !== pageNo) {
      pageNo = want;
      page = readJson<T[]>(kv, map, `${prefix}/${pageNo}`) ?? [];
    }
    const item = page[index % pageEntriesMax];
    if (item !== undefined) out.push(item);
  }
  return out;
}

// --- audit history ----------------------------------------------------------------------------

export type Step = {
  readonly txId: string;
  readonly time: number;
  /** `<mspId>:<identityId>` or `governance`. */
  readonly by: string;
};

export function appendHistory(
  kv: KvWriter,
  kind: HistoryKind,
  id: string,
  step: Step,
  action: string,
  state: string,
): void {
  const entry: HistoryEntry = { txId: step.txId, action, state, time: step.time, by: step.by };
  pagedAppend(
    kv,
    historyMap,
    `${kind}/${id}`,
    entry,
    historyEntriesPerObjectMax,
    'historyEntriesPerObjectMax',
    `history of ${kind} ${id}`,
  );
}
