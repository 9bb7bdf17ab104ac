// The explorer's pure helpers (console/src/pages/explorer/format.ts): what a search text will
// look for, read as the node reads it (parseSearch of src/node/explorer.ts, checked against it
// here), how far a search looked, route cursors, entry lines and advice for failed receipts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  checkQuery,
  cursorOf,
  entryLine,
  newerCursor,
  receiptAdvice,
  resultsHeading,
  searchCharsMax,
  searchScope,
  txIdOf,
} from '../../console/src/pages/explorer/format.js';
import type { ReceiptErrorCode } from '../../console/src/lib/receipt.js';
import { parseSearch, searchCharsMax as nodeSearchCharsMax } from '../../src/node/explorer.js';
import { errorRegistry } from '../../src/errors/registry.js';

const txId = 'ab'.repeat(32);

describe('checkQuery', () => {
  it('says what each kind of search looks for, or why it cannot be searched', () => {
    expect(checkQuery(` ${txId.toUpperCase()} `)).toEqual({
      ok: true,
      q: txId,
      what: 'a transaction id, else an identity',
    });
    expect(checkQuery('public:kv.accounts/alice')).toMatchObject({
      ok: true,
      q: 'public:kv.accounts/alice',
    });
    expect(checkQuery('Org1MSP')).toMatchObject({
      ok: true,
      what: expect.stringMatching(/MSP/) as unknown,
    });
    expect(checkQuery(`Org1MSP:${txId}`)).toMatchObject({
      ok: true,
      what: expect.stringMatching(/identity/) as unknown,
    });
    expect(checkQuery('')).toMatchObject({ ok: false });
    expect(checkQuery('public:kv.accounts')).toEqual({
      ok: false,
      why: 'Add the key: public:kv.accounts/<key>.',
    });
    expect(checkQuery('kv.secret/k')).toMatchObject({
      ok: false,
      why: expect.stringMatching(/private map/) as unknown,
    });
    expect(checkQuery('Org1MSP:nothex')).toMatchObject({ ok: false });
    expect(checkQuery('x'.repeat(searchCharsMax + 1))).toMatchObject({ ok: false });
  });

  it('accepts exactly what the node can search (against its parseSearch)', () => {
    expect(searchCharsMax).toBe(nodeSearchCharsMax);
    const pieces = fc.constantFrom('public:', 'kv.', 'Org1MSP', ':', '/', txId, 'a', ' ', 'MSP');
    fc.assert(
      fc.property(fc.array(pieces, { minLength: 1, maxLength: 5 }), (parts) => {
        const text = parts.join('');
        const page = checkQuery(text);
        const node = parseSearch(text);
        const searchable = node.kind === 'id' || node.kind === 'identity' || node.kind === 'key';
        expect(page.ok, text).toBe(searchable);
      }),
    );
  });
});

describe('searchScope and resultsHeading', () => {
  it('say a transaction id is looked up in the whole ledger', () => {
    const answer = { kind: 'tx', results: [], searchedFrom: 1, next: null } as const;
    expect(searchScope(answer)).toMatch(/whole ledger/);
    expect(searchScope({ ...answer, pending: true })).toMatch(/not executed yet/);
    expect(resultsHeading(answer)).toBe('Transaction');
  });

  it('say how far back an identity or key search looked', () => {
    expect(searchScope({ kind: 'identity', results: [], searchedFrom: 1, next: null })).toBe(
      'Identity search looked at every entry, from #1.',
    );
    const bounded = searchScope({ kind: 'key', results: [], searchedFrom: 4201, next: null });
    expect(bounded).toMatch(/^Key search looked back to entry #4201/);
    expect(bounded).toMatch(/older entries were not searched/);
    const results = [{ seqno: 5, kind: 'tx' as const }];
    expect(resultsHeading({ kind: 'key', results, searchedFrom: 1, next: null })).toBe(
      '1 result (key written)',
    );
    expect(resultsHeading({ kind: 'identity', results, searchedFrom: 1, next: 5 })).toBe(
      '1+ results (identity)',
    );
  });
});

describe('route parts', () => {
  it('reads cursors and transaction ids, refusing anything else', () => {
    expect(
      ['12', '1', '0', '-1', '1.5', 'x', '01', undefined, '99999999999999999'].map(cursorOf),
    ).toEqual([12, 1, undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
    expect(txIdOf(txId.toUpperCase())).toBe(txId);
    expect(txIdOf(txId.slice(1))).toBeUndefined();
    expect(newerCursor(41, 20)).toBe(61);
  });
});

describe('entryLine', () => {
  it('describes transactions, signature entries and the genesis entry', () => {
    expect(
      entryLine({ seqno: 3, kind: 'tx', app: 'kv', action: 'put', status: 'Committed', writes: 1 }),
    ).toBe('kv · put: 1 public write');
    expect(
      entryLine({
        seqno: 3,
        kind: 'tx',
        app: 'kv',
        action: 'put',
        status: 'Committed',
        writes: 0,
        privateWrites: true,
      }),
    ).toBe('kv · put: private writes only');
    expect(
      entryLine({
        seqno: 4,
        kind: 'tx',
        app: 'kv',
        action: 'delete',
        status: 'Invalid',
        code: 'APP_E_INVALID_ARGS',
      }),
    ).toBe('kv · delete: invalid, APP_E_INVALID_ARGS');
    expect(
      entryLine({ seqno: 5, kind: 'signature', treeSize: 4, nodeId: 'n0', mspId: 'Org1MSP' }),
    ).toBe('Signs the first 4 entries by node n0 (Org1MSP)');
    expect(entryLine({ seqno: 1, kind: 'genesis', writes: 7 })).toMatch(/^Genesis: 7 writes/);
  });
});

describe('receiptAdvice', () => {
  it('has advice for every receipt error code of the registry', () => {
    const codes = Object.keys(errorRegistry).filter((code) => code.startsWith('RECEIPT_E_'));
    const pageCodes: readonly ReceiptErrorCode[] = [
      'RECEIPT_E_MALFORMED',
      'RECEIPT_E_ENTRY_MISMATCH',
      'RECEIPT_E_TXID_MISMATCH',
      'RECEIPT_E_PROOF_INVALID',
      'RECEIPT_E_SIGNER_UNKNOWN',
      'RECEIPT_E_SIGNER_INVALID',
      'RECEIPT_E_SIGNER_NOT_PEER',
      'RECEIPT_E_SIGNATURE_INVALID',
      'RECEIPT_E_ROOTS_DISAGREE',
      'RECEIPT_E_SIGNER_REPEATED',
      'RECEIPT_E_TOO_FEW_SIGNERS',
    ];
    const fallback = receiptAdvice('SOMETHING_ELSE');
    for (const code of pageCodes) {
      expect(codes, code).toContain(code);
      expect(receiptAdvice(code), code).not.toBe(fallback);
    }
  });
});
