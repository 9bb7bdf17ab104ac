import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createReplayWindow, frozenReplayReader } from '../../src/ledger/replay.js';

const id = (n: number): string => n.toString(16).padStart(64, '0');

describe('replay window', () => {
  it('remembers ids until their expiry, and forgets those at or before the pruning time', () => {
    const window = createReplayWindow();
    expect(window.add(id(1), 1000)).toBe(true);
    expect(window.add(id(2), 2000)).toBe(true);
    expect(window.add(id(3), 1500)).toBe(true);
    expect(window.has(id(1))).toBe(true);
    window.prune(999);
    expect(window.size()).toBe(3);
    window.prune(1500);
    expect([id(1), id(2), id(3)].map((txId) => window.has(txId))).toEqual([false, true, false]);
    window.prune(10_000);
    expect(window.size()).toBe(0);
  });

  it('lists entries sorted by (expiresAt, txId) whatever the order they came in', () => {
    const added: [string, number][] = [];
    const window = createReplayWindow();
    // A fixed pseudo-random sequence with many equal expiry times.
    for (let n = 0, x = 7; n < 2000; n += 1) {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      const entry: [string, number] = [id(x), 1000 + (x % 97)];
      added.push(entry);
      window.add(...entry);
    }
    const sorted = [...added].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    expect(window.entries()).toEqual(sorted);
    // Pruning takes exactly the earliest ones, in order.
    window.prune(1040);
    expect(window.entries()).toEqual(sorted.filter(([, at]) => at > 1040));
    expect(window.size()).toBe(sorted.filter(([, at]) => at > 1040).length);
  });

  it('restores the same window from its entries (a snapshot)', () => {
    const window = createReplayWindow();
    for (let n = 0; n < 300; n += 1) window.add(id(n), 5000 - (n % 13) * 10);
    const restored = createReplayWindow(window.entries());
    expect(restored.entries()).toEqual(window.entries());
    restored.prune(4900);
    window.prune(4900);
    expect(restored.entries()).toEqual(window.entries());
  });

  it('gives back ids exactly, hex or not, transaction ids sorted as text, others after them', () => {
    const window = createReplayWindow();
    const hex = [id(255), 'f'.repeat(64), id(16), '0a'.repeat(32)];
    const other = ['A'.repeat(64), 'not-hex', `${id(1)}0`, ''];
    const ids = [0, 1, 2, 3].flatMap((i) => [hex[i], other[i]].map((txId) => txId ?? ''));
    for (const txId of ids) window.add(txId, 1000);
    expect(window.entries().map(([txId]) => txId)).toEqual([...hex.sort(), ...other.sort()]);
    expect(ids.every((txId) => window.has(txId))).toBe(true);
    expect(window.has('a'.repeat(64))).toBe(false);
    expect(window.has(id(255).toUpperCase())).toBe(false); // another text, another id
    expect(createReplayWindow(window.entries()).entries()).toEqual(window.entries());
  });

  it('a frozen copy reads as the window did in order, whatever changes after', () => {
    const window = createReplayWindow();
    for (let n = 0; n < 6000; n += 1) window.add(id(n * 7919), 1000 + (n % 50));
    window.add('not-hex', 1010);
    window.add('', 999);
    window.prune(1003); // forgets some, and leaves entries added since the last merge
    for (let n = 6000; n < 6100; n += 1) window.add(id(n), 2000 - n);
    const expected = window.entries();
    const bytes: string[] = [];
    window.forEachSorted((txId, raw, at) => bytes.push(`${raw ?? txId.toString('hex')}@${at}`));
    const frozen = frozenReplayReader(window.frozen());
    const read = (): { entries: (readonly [string, number])[]; bytes: string[] } => {
      const out: string[] = [];
      frozen.forEachSorted((txId, raw, at) => out.push(`${raw ?? txId.toString('hex')}@${at}`));
      return { entries: [...frozen.sortedEntries()], bytes: out };
    };
    expect(frozen.size()).toBe(expected.length);
    expect(read()).toEqual({ entries: expected, bytes });
    // The window goes on: pruned, grown, its room reused.
    window.prune(1040);
    for (let n = 0; n < 20_000; n += 1) window.add(id(1_000_000 + n), 5000);
    expect(window.entries()).not.toEqual(expected);
    expect(read()).toEqual({ entries: expected, bytes });
  });

  it('keeps an id it holds as it was when added again, and refuses new ids when full', () => {
    const window = createReplayWindow([], { entriesMax: 2 });
    expect(window.add(id(1), 1000)).toBe(true);
    expect(window.add(id(1), 9000)).toBe(true);
    expect(window.entries()).toEqual([[id(1), 1000]]);
    expect(window.add(id(2), 2000)).toBe(true);
    expect(window.add(id(3), 3000)).toBe(false);
    expect(window.has(id(3))).toBe(false);
    window.prune(1000);
    expect(window.add(id(3), 3000)).toBe(true);
    expect(window.entries()).toEqual([
      [id(2), 2000],
      [id(3), 3000],
    ]);
  });

  it('keeps its order exact across adds, prunes, ids added again after expiring, and reads', () => {
    // Reads between changes make the window merge what changed into the order it kept.
    // Few ids and rare reads, so that ids expire and come back between two reads.
    const op = fc.oneof(
      {
        arbitrary: fc.record({
          kind: fc.constant('add' as const),
          n: fc.integer({ min: 0, max: 20 }),
          at: fc.integer({ min: 0, max: 40 }),
        }),
        weight: 6,
      },
      {
        arbitrary: fc.record({
          kind: fc.constant('prune' as const),
          at: fc.integer({ min: 0, max: 40 }),
        }),
        weight: 2,
      },
      { arbitrary: fc.record({ kind: fc.constant('read' as const) }), weight: 1 },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const window = createReplayWindow();
        const model = new Map<string, number>();
        // Ids that outlive every pruning: the window stays larger than what changes between two
        // reads, so reads merge the changes into the order kept (a small window is sorted anew).
        for (let n = 100; n < 160; n += 1) {
          window.add(id(n), 2000 + (n % 9));
          model.set(id(n), 2000 + (n % 9));
        }
        window.entries();
        const expected = (): [string, number][] =>
          [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        for (const step of ops) {
          if (step.kind === 'add') {
            // Ids of both kinds: transaction ids, and other text (kept as given).
            const txId = step.n % 7 === 0 ? `other-${step.n}` : id(step.n);
            window.add(txId, 1000 + step.at);
            if (!model.has(txId)) model.set(txId, 1000 + step.at);
          } else if (step.kind === 'prune') {
            window.prune(1000 + step.at);
            for (const [txId, at] of model) if (at <= 1000 + step.at) model.delete(txId);
          } else {
            expect(window.entries()).toEqual(expected());
          }
        }
        expect(window.entries()).toEqual(expected());
        expect(window.size()).toBe(model.size);
      }),
      { numRuns: 300 },
    );
  });

  it('sorts from scratch, exactly, after more adds between reads than it keeps', () => {
    const window = createReplayWindow();
    const model = new Map<string, number>();
    window.entries(); // an order to keep
    // Far more adds between two reads than the window merges in at once, pruning as it goes.
    for (let n = 0; n < 200_000; n += 1) {
      window.add(id(n), 1000 + (n % 5000));
      model.set(id(n), 1000 + (n % 5000));
      if (n % 10_000 === 9_999) {
        const time = 1000 + (n % 5000) - 2500;
        window.prune(time);
        for (const [txId, at] of model) if (at <= time) model.delete(txId);
      }
    }
    const expected = [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    expect(window.entries()).toEqual(expected);
    window.add(id(999_999), 1001);
    expect(window.entries()).toEqual(
      [...expected, [id(999_999), 1001] as [string, number]].sort(
        (a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1),
      ),
    );
  });

  it('agrees with a plain map through growth, pruning in any order, and shrinking back', () => {
    // Random-looking ids and expiry times, so lookups probe, entries leave the table from
    // anywhere, and the room grows past its first size and is handed back after the burst.
    const window = createReplayWindow();
    const model = new Map<string, number>();
    const hashes = Array.from({ length: 100_000 }, (_, n) =>
      createHash('sha256').update(String(n)).digest('hex'),
    );
    const hash = (n: number): string => hashes[n] ?? '';
    let next = 0;
    let largest = 0;
    for (let round = 0; round < 40; round += 1) {
      for (let k = 0; k < 2500; k += 1) {
        const txId = hash(next);
        const at = 10_000 + round * 100 + ((next * 7919) % 997);
        next += 1;
        expect(window.add(txId, at)).toBe(true);
        model.set(txId, at);
      }
      largest = Math.max(largest, model.size);
      const time = 10_000 + round * 100 - 300;
      window.prune(time);
      for (const [txId, at] of model) if (at <= time) model.delete(txId);
      expect(window.size()).toBe(model.size);
      if (round % 10 === 9) {
        const wrong = hashes.slice(0, next).filter((txId) => window.has(txId) !== model.has(txId));
        expect(wrong).toEqual([]);
      }
    }
    const sorted = (): [string, number][] =>
      [...model].sort((a, b) => a[1] - b[1] || (a[0] < b[0] ? -1 : 1));
    expect(window.entries()).toEqual(sorted());
    // Room grows by a quarter at a time: never far above the most the window held.
    expect(window.capacity()).toBeGreaterThanOrEqual(largest);
    expect(window.capacity()).toBeLessThanOrEqual(Math.ceil(largest * 1.25));
    const peak = window.capacity();
    // Most of it expires: the room shrinks, and what is left reads as before.
    window.prune(10_000 + 39 * 100 + 500);
    for (const [txId, at] of model) if (at <= 10_000 + 39 * 100 + 500) model.delete(txId);
    expect(window.capacity()).toBeLessThan(peak / 2);
    expect(window.entries()).toEqual(sorted());
    expect([...model.keys()].filter((txId) => !window.has(txId))).toEqual([]);
    window.prune(Infinity);
    expect(window.size()).toBe(0);
    expect(window.entries()).toEqual([]);
    expect(window.add(hash(0), 1)).toBe(true);
    expect(window.entries()).toEqual([[hash(0), 1]]);
  });

  it('refuses to go on reading its order after an add or a prune, not after another read', () => {
    const window = createReplayWindow();
    for (let n = 0; n < 10; n += 1) window.add(id(n), 1000 + n);
    const reading = window.sortedEntries();
    expect(reading.next().value).toEqual([id(0), 1000]);
    expect(window.entries()).toHaveLength(10);
    expect(reading.next().value).toEqual([id(1), 1001]);
    window.add(id(99), 5000);
    expect(() => reading.next()).toThrow(/changed while it was being read/);
    const afterPrune = window.sortedEntries();
    afterPrune.next();
    window.prune(1003);
    expect(() => afterPrune.next()).toThrow(/changed while it was being read/);
    expect(window.entries().map(([, at]) => at)).toEqual([
      1004, 1005, 1006, 1007, 1008, 1009, 5000,
    ]);
  });
});
