// The KV store against a naive reference, its limits, its memory use at a million keys, and the
// ledger secret: write-set encryption (tamper, known answer, determinism) and the secret file.
import { createCipheriv } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import { createSimStorage } from '../../src/ledger/files-sim.js';
import {
  createLedgerSecretFile,
  decodeEncryptedWriteSet,
  decodeWrites,
  decryptWriteSet,
  encodeEncryptedWriteSet,
  encodeWrites,
  encryptWriteSet,
  ledgerSecretFromBytes,
  loadLedgerSecretFile,
  openWithSecret,
  sealPartsWithSecret,
  sealWithSecret,
} from '../../src/ledger/secret.js';
import {
  createStore,
  sortedMapsOf,
  keyBytesMax,
  mapsMax,
  valueBytesMax,
  writesPerTxMax,
  type Store,
  type Write,
  type WriteSet,
} from '../../src/ledger/store.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-store-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function code(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    return isCofferError(error) ? error.code : `not coded: ${String(error)}`;
  }
  return undefined;
}

function dump(store: Store): Record<string, [string, string][]> {
  return Object.fromEntries(store.maps().map((map) => [map, [...store.entries(map)]]));
}

describe('KV store', () => {
  it('reads its own writes, orders the write set by first write, last value wins', () => {
    const store = createStore();
    store.apply([{ map: 'public:a', key: 'x', value: '1' }], 1);
    const tx = store.begin();
    expect(tx.get('public:a', 'x')).toBe('1');
    tx.put('accounts', 'bob', '10');
    tx.put('public:a', 'x', '2');
    tx.put('accounts', 'alice', '5');
    tx.put('accounts', 'bob', '11');
    tx.delete('public:a', 'x');
    expect(tx.get('accounts', 'bob')).toBe('11');
    expect(tx.has('public:a', 'x')).toBe(false);
    expect(store.read('public:a', 'x')).toBe('1'); // nothing applied yet
    expect(tx.writeSet()).toEqual([
      { map: 'accounts', key: 'bob', value: '11' },
      { map: 'public:a', key: 'x', value: null },
      { map: 'accounts', key: 'alice', value: '5' },
    ]);
    store.apply(tx.writeSet(), 3);
    expect(store.seqno()).toBe(3);
    expect(store.maps()).toEqual(['accounts']); // public:a lost its last key
    expect([...store.entries('accounts')]).toEqual([
      ['alice', '5'],
      ['bob', '11'],
    ]);
    expect(() => tx.get('accounts', 'bob')).toThrow(/store moved on/);
    expect(() => {
      store.apply([], 3);
    }).toThrow(/does not follow/);
  });

  it('matches a naive reference on random transactions', () => {
    const mapNames = ['public:a', 'public:b.c', 'priv', 'x/y'];
    const op = fc.oneof(
      fc.record({
        type: fc.constant('put' as const),
        map: fc.constantFrom(...mapNames),
        key: fc.string({ maxLength: 3 }),
        value: fc.string({ maxLength: 4 }),
      }),
      fc.record({
        type: fc.constant('delete' as const),
        map: fc.constantFrom(...mapNames),
        key: fc.string({ maxLength: 3 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(fc.array(op, { maxLength: 12 }), { maxLength: 10 }), (txs) => {
        const store = createStore();
        let reference: Write[] = []; // committed state as a list of (map, key, value)
        txs.forEach((ops, index) => {
          const tx = store.begin();
          const expected: Write[] = [];
          for (const o of ops) {
            const value = o.type === 'put' ? o.value : null;
            if (value === null) tx.delete(o.map, o.key);
            else tx.put(o.map, o.key, value);
            const at = expected.findIndex((w) => w.map === o.map && w.key === o.key);
            if (at < 0) expected.push({ map: o.map, key: o.key, value });
            else expected[at] = { map: o.map, key: o.key, value };
            expect(tx.get(o.map, o.key)).toBe(value ?? undefined);
          }
          expect(tx.writeSet()).toEqual(expected);
          store.apply(tx.writeSet(), index * 2 + 1);
          for (const w of expected) {
            reference = reference.filter((r) => r.map !== w.map || r.key !== w.key);
            if (w.value !== null) reference.push(w);
          }
        });
        const naive: Record<string, [string, string][]> = {};
        for (const map of [...new Set(reference.map((r) => r.map))].sort()) {
          naive[map] = reference
            .filter((r) => r.map === map)
            .map((r): [string, string] => [r.key, r.value ?? ''])
            .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        }
        expect(dump(store)).toEqual(naive);
        for (const map of mapNames) {
          // sortedKeys: the keys entries() yields, in the same order, as a fresh array.
          const keys = store.sortedKeys(map);
          expect(keys).toEqual((naive[map] ?? []).map(([key]) => key));
          keys.reverse();
          expect(store.sortedKeys(map)).toEqual((naive[map] ?? []).map(([key]) => key));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('sorted entries of a large map stay exact across puts, overwrites, deletes and re-adds (kept, then merged)', () => {
    const base = 1200;
    const keyArb = fc.oneof(
      fc.integer({ min: 0, max: base + 400 }).map((n) => `k${n}`),
      fc.string({ unit: 'grapheme', maxLength: 4 }),
    );
    const opArb = fc.oneof(
      fc.record({ kind: fc.constant('put' as const), key: keyArb }),
      fc.record({ kind: fc.constant('delete' as const), key: keyArb }),
      fc.record({ kind: fc.constant('sort' as const) }),
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 400 }), (ops) => {
        const store = createStore();
        const reference = new Map<string, string>();
        let seqno = 0;
        const write = (key: string, value: string | null): void => {
          seqno += 1;
          store.apply([{ map: 'big', key, value }], seqno);
          if (value === null) reference.delete(key);
          else reference.set(key, value);
        };
        seqno += 1;
        store.apply(
          Array.from({ length: base }, (_, n) => ({ map: 'big', key: `k${n}`, value: 'v0' })),
          seqno,
        );
        for (let n = 0; n < base; n += 1) reference.set(`k${n}`, 'v0');
        const check = (): void => {
          const expected = [...reference].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
          const sorted = store.sortedEntries('big');
          expect(sorted.keys).toEqual(expected.map(([key]) => key));
          expect(sorted.values).toEqual(expected.map(([, value]) => value));
          expect([...store.entries('big')]).toEqual(expected);
          const keys = store.sortedKeys('big');
          expect(keys).toEqual(expected.map(([key]) => key));
          keys.pop(); // a fresh array each time: the caller's changes do not reach the store
          expect(store.sortedKeys('big')).toHaveLength(expected.length);
        };
        check();
        for (const op of ops) {
          if (op.kind === 'sort') check();
          else write(op.key, op.kind === 'put' ? `v${seqno}` : null);
        }
        check();
        // Emptied, the map is gone; written again, it sorts from scratch.
        seqno += 1;
        store.apply(
          [...reference.keys()].map((key) => ({ map: 'big', key, value: null })),
          seqno,
        );
        reference.clear();
        expect(store.sortedKeys('big')).toEqual([]);
        write('k1', 'again');
        check();
      }),
      { numRuns: 60 },
    );
  });

  it('a frozen copy reads as the store did when it was taken, whatever changes after', () => {
    const store = createStore();
    store.apply(
      [
        ...Array.from({ length: 300 }, (_, n) => ({
          map: 'public:a',
          key: `k${n}`,
          value: `v${n}`,
        })),
        { map: 'b', key: 'ключ', value: '値' },
        { map: 'b', key: 'k', value: '' },
      ],
      1,
    );
    store.apply([{ map: 'public:a', key: 'k7', value: null }], 2); // deleted, not yet merged out
    store.apply([{ map: 'public:a', key: 'new', value: 'n' }], 3); // added, not yet merged in
    const expected = dump(store);
    const frozen = store.frozen();
    const copy = sortedMapsOf(frozen);
    const read = (): Record<string, [string, string][]> =>
      Object.fromEntries(
        copy.maps().map((map) => {
          const pairs: [string, string][] = [];
          copy.forEachSorted(map, (bytes, start, keyEnd, valueEnd) => {
            pairs.push([
              bytes.toString('utf8', start, keyEnd),
              bytes.toString('utf8', keyEnd, valueEnd),
            ]);
          });
          expect(copy.size(map)).toBe(pairs.length);
          return [map, pairs];
        }),
      );
    expect(copy.seqno()).toBe(3);
    expect(read()).toEqual(expected);
    // The store goes on: overwrites, deletes, thousands of new keys (its arena grows and is
    // rewritten), a map emptied.
    store.apply(
      [
        { map: 'public:a', key: 'k1', value: 'changed' },
        { map: 'public:a', key: 'k2', value: null },
        { map: 'b', key: 'ключ', value: null },
        { map: 'b', key: 'k', value: null },
        ...Array.from({ length: 5000 }, (_, n) => ({
          map: 'public:a',
          key: `z${n}`,
          value: 'x'.repeat(300),
        })),
      ],
      4,
    );
    expect(read()).toEqual(expected);
    expect(dump(store)).not.toEqual(expected);
  });

  it('sorted keys stay exact when far more keys were written since the last call than it held', () => {
    const store = createStore();
    let seqno = 0;
    const keyOf = (n: number): string => `key-${(n * 7919) % 1_000_003}`;
    const first = 1024;
    store.apply(
      Array.from({ length: first }, (_, n) => ({
        map: 'big',
        key: keyOf(n),
        value: 'v',
      })),
      (seqno += 1),
    );
    expect(store.sortedKeys('big')).toHaveLength(first);
    // Far more new keys than the map held: it sorts them in as they come, not all at the next call.
    const extra = 262_154;
    for (let from = first; from < first + extra; from += 10_000) {
      const to = Math.min(from + 10_000, first + extra);
      store.apply(
        Array.from({ length: to - from }, (_, i) => ({
          map: 'big',
          key: keyOf(from + i),
          value: 'v',
        })),
        (seqno += 1),
      );
    }
    const all = Array.from({ length: first + extra }, (_, n) => keyOf(n)).sort();
    expect(store.sortedKeys('big')).toEqual(all);
    store.apply([{ map: 'big', key: keyOf(3), value: null }], (seqno += 1));
    expect(store.sortedKeys('big')).toEqual(all.filter((key) => key !== keyOf(3)));
  });

  it('refuses what breaks a limit or a name rule, with a stable code', () => {
    const store = createStore();
    const tx = store.begin();
    expect(
      code(() => {
        tx.put('m', 'k'.repeat(keyBytesMax + 1), 'v');
      }),
    ).toBe('STORE_E_LIMIT');
    expect(
      code(() => {
        tx.put('m', 'k', 'v'.repeat(valueBytesMax + 1));
      }),
    ).toBe('STORE_E_LIMIT');
    expect(
      code(() => {
        tx.put(`m${'x'.repeat(128)}`, 'k', 'v');
      }),
    ).toBe('STORE_E_LIMIT');
    for (const bad of ['', 'public:', 'has space', 'public:a:b', 'a\u0000b', 'é', ':x']) {
      expect(
        code(() => {
          tx.put(bad, 'k', 'v');
        }),
        bad,
      ).toBe('STORE_E_INVALID');
    }
    expect(
      code(() => {
        tx.put('m', '\ud800', 'v');
      }),
    ).toBe('STORE_E_INVALID');
    expect(
      code(() => {
        tx.put('m', 'k', 'x\udc00');
      }),
    ).toBe('STORE_E_INVALID');
    expect(
      code(() => {
        tx.put('m', '😀', 'v');
      }),
    ).toBeUndefined(); // a valid pair is fine
    // Bytes per transaction: eight values of 1 MiB fill 8 MiB; the ninth does not fit.
    const big = 'v'.repeat(valueBytesMax);
    const heavy = store.begin();
    for (let i = 0; i < 7; i += 1) heavy.put('m', `k${i}`, big);
    expect(
      code(() => {
        heavy.put('m', 'k7', big);
      }),
    ).toBe('STORE_E_LIMIT');
    heavy.put('m', 'k0', 'small'); // overwriting frees its bytes
    expect(
      code(() => {
        heavy.put('m', 'k7', big);
      }),
    ).toBeUndefined();
    // Writes per transaction.
    const many = store.begin();
    for (let i = 0; i < writesPerTxMax; i += 1) many.put('m', `k${i}`, '');
    let error: unknown;
    try {
      many.put('m', 'one-more', '');
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ code: 'STORE_E_LIMIT', details: { limit: 'writesPerTxMax' } });
    many.put('m', 'k1', 'rewrite of an existing pair is fine');
  });

  it('apply checks everything before changing anything', () => {
    const store = createStore();
    store.apply([{ map: 'm', key: 'a', value: '1' }], 1);
    const bad: WriteSet = [
      { map: 'm', key: 'b', value: '2' },
      { map: 'bad name', key: 'c', value: '3' },
    ];
    expect(
      code(() => {
        store.apply(bad, 2);
      }),
    ).toBe('STORE_E_INVALID');
    expect(dump(store)).toEqual({ m: [['a', '1']] });
    expect(store.seqno()).toBe(1);
  });

  it('bounds the number of maps', () => {
    const store = createStore();
    for (let base = 0; base < mapsMax; base += 1000) {
      const writes: Write[] = [];
      for (let i = base; i < Math.min(base + 1000, mapsMax); i += 1) {
        writes.push({ map: `m${i}`, key: 'k', value: 'v' });
      }
      store.apply(writes, base + 1);
    }
    expect(store.maps().length).toBe(mapsMax);
    const tx = store.begin();
    tx.put('m0', 'k2', 'existing map is fine');
    expect(
      code(() => {
        tx.put('one.more', 'k', 'v');
      }),
    ).toBe('STORE_E_LIMIT');
    expect(
      code(() => {
        store.apply([{ map: 'one.more', key: 'k', value: 'v' }], 99_999);
      }),
    ).toBe('STORE_E_LIMIT');
  });

  it('holds a million small keys in under 64 MiB, almost none of it on the JavaScript heap', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const before = process.memoryUsage();
    const store = createStore();
    const count = 1_000_000;
    for (let base = 0; base < count; base += writesPerTxMax) {
      const writes: Write[] = [];
      for (let i = base; i < base + writesPerTxMax; i += 1) {
        writes.push({
          map: i % 2 === 0 ? 'public:accounts' : 'balances',
          key: `acct-${i}`,
          value: `{"v":"${i}"}`,
        });
      }
      store.apply(writes, base + 1);
    }
    store.sortedKeys('balances'); // the key order is kept too
    gc();
    const after = process.memoryUsage();
    const heap = after.heapUsed - before.heapUsed;
    const buffers = after.arrayBuffers - before.arrayBuffers;
    console.log(
      `1,000,000 keys: ${(heap / 1_048_576).toFixed(1)} MiB of heap, ` +
        `${(buffers / 1_048_576).toFixed(1)} MiB of array buffers`,
    );
    expect(store.size('public:accounts') + store.size('balances')).toBe(count);
    expect(store.read('balances', 'acct-999999')).toBe('{"v":"999999"}');
    // 25 bytes of text a key, its offsets, lengths, table slots and place in the order.
    expect(heap).toBeLessThan(16 * 1_048_576);
    expect(heap + buffers).toBeLessThan(64 * 1_048_576);
  });
});

describe('private map encryption', () => {
  const secret = ledgerSecretFromBytes(Uint8Array.from({ length: 32 }, (_, i) => i));
  const writes: WriteSet = [
    { map: 'balances', key: 'alice', value: '{"amount":"100"}' },
    { map: 'public:tokens', key: 'COF', value: '{"supply":"1000"}' },
    { map: 'balances', key: 'bob', value: null },
    { map: 'public:tokens', key: 'OLD', value: null },
  ];

  it('keeps public writes in clear and seals private ones, round trip', () => {
    const encrypted = encryptWriteSet(writes, secret, 7);
    expect(encrypted.publicWrites).toEqual([writes[1], writes[3]]);
    const bytes = encodeEncryptedWriteSet(encrypted);
    expect(Buffer.from(bytes).includes('alice')).toBe(false);
    expect(Buffer.from(bytes).includes('COF')).toBe(true);
    const decoded = decodeEncryptedWriteSet(bytes);
    expect(decryptWriteSet(decoded, secret, 7)).toEqual([
      writes[1],
      writes[3],
      writes[0],
      writes[2],
    ]);
    // Deterministic: every node writes the same bytes; another seqno gives another ciphertext.
    expect(encodeEncryptedWriteSet(encryptWriteSet(writes, secret, 7))).toEqual(bytes);
    expect(encryptWriteSet(writes, secret, 8).privateCiphertext).not.toEqual(
      encrypted.privateCiphertext,
    );
  });

  it('is AES-256-GCM with IV "CWS1" + u64 seqno and AAD u64 seqno + public writes (known answer)', () => {
    const seqno = 0x0102030405;
    const publicBytes = encodeWrites([writes[1], writes[3]] as WriteSet);
    const iv = Buffer.from('4357533100000001' + '02030405', 'hex');
    const aad = Buffer.concat([Buffer.from('0000000102030405', 'hex'), publicBytes]);
    const cipher = createCipheriv(
      'aes-256-gcm',
      Buffer.from(Uint8Array.from({ length: 32 }, (_, i) => i)),
      iv,
    );
    cipher.setAAD(aad);
    const plain = encodeWrites([writes[0], writes[2]] as WriteSet);
    const expected = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
    expect(Buffer.from(encryptWriteSet(writes, secret, seqno).privateCiphertext)).toEqual(expected);
    // And the write encoding itself: count, then op, u16 map, u16 key, u32 value.
    expect(
      Buffer.from(
        encodeWrites([
          { map: 'm', key: 'k', value: 'v' },
          { map: 'm', key: 'j', value: null },
        ]),
      ).toString('hex'),
    ).toBe(
      '00000002' +
        '01' +
        '0001' +
        '6d' +
        '0001' +
        '6b' +
        '00000001' +
        '76' +
        '00' +
        '0001' +
        '6d' +
        '0001' +
        '6a',
    );
    // Lengths count UTF-8 bytes, not UTF-16 units.
    expect(
      Buffer.from(
        encodeWrites([{ map: 'public:\u00e9', key: '\u9375', value: '\u{1f600}' }]),
      ).toString('hex'),
    ).toBe(
      '00000001' +
        '01' +
        '0009' +
        '7075626c69633ac3a9' +
        '0003' +
        'e98db5' +
        '00000004' +
        'f09f9880',
    );
  });

  it('detects tampering with the ciphertext, the public writes, the seqno or the secret', () => {
    const encrypted = encryptWriteSet(writes, secret, 7);
    const flipped = new Uint8Array(encrypted.privateCiphertext);
    flipped[3] = (flipped[3] ?? 0) ^ 1;
    const other = ledgerSecretFromBytes(new Uint8Array(32).fill(9));
    const changedPublic = [
      { map: 'public:tokens', key: 'COF', value: '{"supply":"9999"}' },
      writes[3],
    ] as WriteSet;
    const cases: [string, () => unknown][] = [
      [
        'ciphertext',
        () => decryptWriteSet({ ...encrypted, privateCiphertext: flipped }, secret, 7),
      ],
      [
        'public writes',
        () => decryptWriteSet({ ...encrypted, publicWrites: changedPublic }, secret, 7),
      ],
      [
        'dropped public write',
        () => decryptWriteSet({ ...encrypted, publicWrites: [writes[1]] as WriteSet }, secret, 7),
      ],
      ['seqno', () => decryptWriteSet(encrypted, secret, 8)],
      ['secret', () => decryptWriteSet(encrypted, other, 7)],
      [
        'empty ciphertext',
        () => decryptWriteSet({ ...encrypted, privateCiphertext: new Uint8Array(0) }, secret, 7),
      ],
    ];
    for (const [what, action] of cases) expect(code(action), what).toBe('STORE_E_DECRYPT');
  });

  it('refuses malformed encodings with STORE_E_MALFORMED, never anything else', () => {
    const bytes = encodeEncryptedWriteSet(encryptWriteSet(writes, secret, 7));
    fc.assert(
      fc.property(
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.nat(),
        fc.boolean(),
        (at, xor, cut, truncate) => {
          const mutated = Buffer.from(bytes);
          const index = at % mutated.length;
          mutated[index] = (mutated[index] ?? 0) ^ xor;
          const input = truncate ? mutated.subarray(0, cut % mutated.length) : mutated;
          const outcome = code(() => decryptWriteSet(decodeEncryptedWriteSet(input), secret, 7));
          expect(['STORE_E_MALFORMED', 'STORE_E_DECRYPT']).toContain(outcome);
        },
      ),
      { numRuns: 500 },
    );
    expect(
      code(() =>
        decodeWrites(
          Buffer.from('00000001' + '01' + '0001' + '6d' + '0001' + 'ff' + '00000000', 'hex'),
        ),
      ),
    ).toBe('STORE_E_MALFORMED');
    expect(code(() => decodeWrites(Buffer.concat([encodeWrites([]), Buffer.from([0])])))).toBe(
      'STORE_E_MALFORMED',
    );
  });

  it('never lets a private write pass as public', () => {
    const encrypted = encryptWriteSet(writes, secret, 7);
    const forged: WriteSet = [{ map: 'balances', key: 'eve', value: '1' }];
    // Swapped in, the AAD no longer matches.
    expect(code(() => decryptWriteSet({ ...encrypted, publicWrites: forged }, secret, 7))).toBe(
      'STORE_E_DECRYPT',
    );
    // Sealed by a secret holder with the forged AAD, the map kind still refuses it.
    const aad = Buffer.concat([Buffer.from('0000000000000007', 'hex'), encodeWrites(forged)]);
    const privateCiphertext = sealWithSecret(secret, 'write-set', 7, aad, encodeWrites([]));
    expect(
      code(() => decryptWriteSet({ publicWrites: forged, privateCiphertext }, secret, 7)),
    ).toBe('STORE_E_MALFORMED');
  });
});

describe('sealing in parts', () => {
  it('gives the bytes of sealing the joined plaintext, and opens alike', () => {
    const secret = ledgerSecretFromBytes(new Uint8Array(32).fill(9));
    const aad = Buffer.from('aad');
    const parts = [Buffer.from('first part, '), Buffer.alloc(0), Buffer.alloc(70_000, 7)];
    const joined = Buffer.concat(parts);
    const sealed = Buffer.concat(sealPartsWithSecret(secret, 'snapshot', 12, aad, parts));
    expect(sealed.equals(Buffer.from(sealWithSecret(secret, 'snapshot', 12, aad, joined)))).toBe(
      true,
    );
    expect(Buffer.from(openWithSecret(secret, 'snapshot', 12, aad, sealed)).equals(joined)).toBe(
      true,
    );
    expect(Buffer.concat(sealPartsWithSecret(secret, 'snapshot', 12, aad, [])).byteLength).toBe(16);
  });
});

describe('ledger secret file', () => {
  it('is created 0600, atomically, and loads back; a second create is refused', async () => {
    const file = path.join(work, 'node', 'ledger.secret');
    const created = await createLedgerSecretFile(file);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'latin1')).toMatch(/^[0-9a-f]{64}\n$/);
    const loaded = await loadLedgerSecretFile(file);
    const encrypted = encryptWriteSet([{ map: 'm', key: 'k', value: 'v' }], created, 1);
    expect(decryptWriteSet(encrypted, loaded, 1)).toEqual([{ map: 'm', key: 'k', value: 'v' }]);
    await expect(createLedgerSecretFile(file)).rejects.toMatchObject({
      code: 'LEDGER_E_SECRET_EXISTS',
    });
  });

  it('refuses a missing, open or malformed secret file', async () => {
    const file = path.join(work, 'bad.secret');
    await expect(loadLedgerSecretFile(file)).rejects.toMatchObject({
      code: 'LEDGER_E_SECRET_INVALID',
    });
    await writeFile(file, `${'ab'.repeat(32)}\n`, { mode: 0o644 });
    await chmod(file, 0o644);
    await expect(loadLedgerSecretFile(file)).rejects.toThrow(/chmod 600/);
    await writeFile(file, 'not hex\n');
    await chmod(file, 0o600);
    await expect(loadLedgerSecretFile(file)).rejects.toMatchObject({
      code: 'LEDGER_E_SECRET_INVALID',
    });
    await writeFile(file, `${'ab'.repeat(31)}\n`);
    await expect(loadLedgerSecretFile(file)).rejects.toMatchObject({
      code: 'LEDGER_E_SECRET_INVALID',
    });
  });

  it('a crash at any point of creation leaves no secret or the whole secret', async () => {
    const secretBytes = new Uint8Array(32).fill(7);
    for (let calls = 0; calls < 12; calls += 1) {
      const sim = createSimStorage(calls);
      sim.crashAfter(calls);
      const created = await createLedgerSecretFile('/n/ledger.secret', {
        storage: sim,
        secretBytes,
      }).then(
        () => true,
        () => false,
      );
      sim.crash();
      const loaded = await loadLedgerSecretFile('/n/ledger.secret', { storage: sim }).catch(
        (error: unknown) => error,
      );
      if (isCofferError(loaded)) {
        expect(loaded.code, `crash after ${calls} calls`).toBe('LEDGER_E_SECRET_INVALID');
        expect(created, 'a create that returned is durable').toBe(false);
      } else {
        const sealed = encryptWriteSet([], ledgerSecretFromBytes(secretBytes), 1);
        expect(
          decryptWriteSet(sealed, loaded as ReturnType<typeof ledgerSecretFromBytes>, 1),
        ).toEqual([]);
      }
    }
  });
});
