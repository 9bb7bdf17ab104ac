// Pure helpers of the explorer pages: what a search will look for, how far it looked, paging
// cursors, entry lines. No DOM: unit-tested in test/console/.
import type { EntrySummary, SearchAnswer } from './types.js';

/** Entries per page of the explorer's listing. */
export const entriesPageSize = 20;
/** Results per page of a search. */
export const searchPageSize = 25;
/** Longest search text the node accepts (a map name of 128, `/`, a key of 4096). */
export const searchCharsMax = 128 + 1 + 4096;

const hex64 = /^[0-9a-fA-F]{64}$/;

export type QueryCheck =
  | { readonly ok: true; readonly q: string; readonly what: string }
  | { readonly ok: false; readonly why: string };

/**
 * What a search text will look for, as the node reads it (parseSearch of src/node/explorer.ts),
 * or why it cannot be searched, before asking the node.
 */
export function checkQuery(text: string): QueryCheck {
  const q = text.trim();
  if (q === '') {
    return {
      ok: false,
      why: 'Type a transaction id, an identity (MSP ID, certId or MSPID:certId) or a public key as public:map/key.',
    };
  }
  if (q.length > searchCharsMax) {
    return { ok: false, why: `A search is at most ${searchCharsMax} characters.` };
  }
  if (hex64.test(q)) {
    return { ok: true, q: q.toLowerCase(), what: 'a transaction id, else an identity' };
  }
  if (q.startsWith('public:')) {
    return q.includes('/')
      ? { ok: true, q, what: 'the transactions that wrote this key' }
      : { ok: false, why: `Add the key: ${q}/<key>.` };
  }
  if (q.indexOf('/') > 0) {
    return {
      ok: false,
      why: `${q.slice(0, q.indexOf('/'))} is a private map: its keys are encrypted in the ledger and cannot be searched. Search a public: map.`,
    };
  }
  const colon = q.lastIndexOf(':');
  if (colon > 0) {
    return hex64.test(q.slice(colon + 1))
      ? { ok: true, q, what: 'the transactions of this identity' }
      : { ok: false, why: 'Search an identity as <MSP ID>:<64-hex certId or identity id>.' };
  }
  return { ok: true, q, what: 'the transactions signed by members of this MSP' };
}

/** How far back a search looked, in words. */
export function searchScope(answer: SearchAnswer): string {
  if (answer.kind === 'tx') {
    return answer.pending === true
      ? 'This node accepted the transaction; it is not executed yet.'
      : 'Transaction ids are looked up in the whole ledger.';
  }
  const what = answer.kind === 'key' ? 'Key' : 'Identity';
  if (answer.searchedFrom <= 1) return `${what} search looked at every entry, from #1.`;
  return (
    `${what} search looked back to entry #${answer.searchedFrom}: it covers the newest entries ` +
    'this node keeps in memory; older entries were not searched (a transaction id is found at any age).'
  );
}

/** A result list's heading. */
export function resultsHeading(answer: SearchAnswer): string {
  const count = answer.results.length;
  const more = answer.next === null ? '' : '+';
  const found = count === 1 && more === '' ? '1 result' : `${count}${more} results`;
  if (answer.kind === 'tx') return count === 0 ? 'Transaction' : 'Transaction found';
  return `${found} (${answer.kind === 'key' ? 'key written' : 'identity'})`;
}

/** The cursor of the page before (newer than) the one listing entries below `before`. */
export function newerCursor(before: number, pageSize: number): number {
  return before + pageSize;
}

/** A route part that must be a positive integer (a cursor), or undefined. */
export function cursorOf(part: string | undefined): number | undefined {
  if (part === undefined || !/^[1-9][0-9]{0,15}$/.test(part)) return undefined;
  const value = Number(part);
  return Number.isSafeInteger(value) ? value : undefined;
}

/** A transaction id of a route, or undefined. */
export function txIdOf(part: string | undefined): string | undefined {
  return part !== undefined && hex64.test(part) ? part.toLowerCase() : undefined;
}

/** One line saying what an entry is (also its text for screen readers and phones). */
export function entryLine(entry: EntrySummary): string {
  if (entry.kind === 'genesis') {
    return `Genesis: ${entry.writes ?? 0} writes of the consortium's first configuration`;
  }
  if (entry.kind === 'signature') {
    const by = entry.nodeId === undefined ? '' : ` by node ${entry.nodeId} (${entry.mspId ?? '?'})`;
    return `Signs the first ${entry.treeSize ?? '?'} entries${by}`;
  }
  const what = `${entry.app ?? '?'} · ${entry.action ?? '?'}`;
  if (entry.status === 'Invalid') return `${what}: invalid, ${entry.code ?? 'no code'}`;
  const writes = entry.writes ?? 0;
  if (writes === 0 && entry.privateWrites === true) return `${what}: private writes only`;
  const publicWrites = `${writes} public ${writes === 1 ? 'write' : 'writes'}`;
  return `${what}: ${publicWrites}${entry.privateWrites === true ? ' and private writes' : ''}`;
}

/** What to do about a receipt that did not verify, by its code (src/errors/registry.ts). */
export function receiptAdvice(code: string): string {
  switch (code) {
    case 'RECEIPT_E_MALFORMED':
      return 'This is not a receipt as a Coffer node issues it (see the field named). Download it again.';
    case 'RECEIPT_E_ENTRY_MISMATCH':
    case 'RECEIPT_E_PROOF_INVALID':
    case 'RECEIPT_E_SIGNATURE_INVALID':
    case 'RECEIPT_E_SIGNER_REPEATED':
      return 'The receipt was altered after the node issued it: do not rely on it. Download it again from a node you trust.';
    case 'RECEIPT_E_TXID_MISMATCH':
      return 'The ledger entry records another transaction (or none) than the receipt names: it was altered, or it is not a transaction’s receipt.';
    case 'RECEIPT_E_SIGNER_UNKNOWN':
      return 'A signing node belongs to an organisation this consortium does not list now. If the organisation left, verify with coffer receipt verify and the MSP folders of that time.';
    case 'RECEIPT_E_SIGNER_INVALID':
      return 'A signing node’s certificate does not chain to its organisation’s CAs, or is revoked: ask that organisation’s operators.';
    case 'RECEIPT_E_SIGNER_NOT_PEER':
      return 'The root was signed by an identity that is not a peer: only nodes sign roots. Do not rely on this receipt.';
    case 'RECEIPT_E_ROOTS_DISAGREE':
      return 'Nodes signed different roots for the same ledger size: tell the consortium’s operators at once (the ledgers diverge, or the receipt was altered).';
    case 'RECEIPT_E_TOO_FEW_SIGNERS':
      return 'Fewer nodes or organisations signed than you require: lower the requirement, or fetch the receipt again once more nodes have signed.';
    default:
      return 'Download the receipt again and retry; if it persists, verify it with coffer receipt verify.';
  }
}
