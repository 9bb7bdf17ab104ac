import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createCompactMap } from '../../src/ledger/compact-map.js';

/** JavaScript's string order (UTF-16 code units), which the map's key order must be. */
const jsOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

// Keys from a small alphabet that crosses every UTF-8 length and the one range where code point
// order and UTF-16 order disagree (U+E000-U+FFFF against characters above U+FFFF).
const alphabet = ['a', 'b', 'é', 'ࠀ', '\ud7ff', '\ue000', '\uff01', '\uffff', '😀', '𐀀', '\u0000'];
const keyArb = fc
  .array(fc.constantFrom(...alphabet), { minLength: 0, maxLength: 4 })
  .map((chars) => chars.join(''));
const valueArb = fc.string({ maxLength: 12, unit: 'grapheme' });

describe('compact map', () => {
  it('agrees with a Map on random puts, overwrites, deletes and sorted reads, in JavaScript key order', () => {
    const op = fc.oneof(
      {
        arbitrary: fc.record({ kind: fc.constant('set' as const), key: keyArb, value: valueArb }),
        weight: 6,
      },
      { arbitrary: fc.record({ kind: fc.constant('delete' as const), key: keyArb }), weight: 2 },
      { arbitrary: fc.record({ kind: fc.constant('read' as const) }), weight: 1 },
      { arbitrary: fc.record({ kind: fc.constant('get' as const), key: keyArb }), weight: 4 },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const map = createCompactMap();
        const model = new Map<string, string>();
        const expectSame = (): void => {
          const sortedKeys = [...model.keys()].sort(jsOrder);
          expect(map.sorted()).toEqual({
            keys: sortedKeys,
            values: sortedKeys.map((key) => model.get(key)),
          });
        };
        for (const step of ops) {
          if (step.kind === 'set') {
            // Read before and after: what get hands out again must follow every change.
            expect(map.get(step.key)).toBe(model.get(step.key));
            map.set(step.key, step.value);
            model.set(step.key, step.value);
            expect(map.get(step.key)).toBe(step.value);
          } else if (step.kind === 'delete') {
            expect(map.get(step.key)).toBe(model.get(step.key));
            expect(map.delete(step.key)).toBe(model.delete(step.key));
            expect(map.get(step.key)).toBeUndefined();
          } else if (step.kind === 'get') {
            expect(map.get(step.key)).toBe(model.get(step.key));
          } else {
            expectSame();
          }
          expect(map.size()).toBe(model.size);
        }
        expectSame();
        for (const key of alphabet.flatMap((a) => alphabet.map((b) => a + b))) {
          expect(map.get(key)).toBe(model.get(key));
          expect(map.has(key)).toBe(model.has(key));
        }
        const bytes = [...model].reduce(
          (sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
          0,
        );
        expect(map.liveBytes()).toBe(bytes);
      }),
      { numRuns: 300 },
    );
  });

  it('stays exact through growth, a rewrite of its arena and many deletes (100,000 keys)', () => {
    const map = createCompactMap();
    const model = new Map<string, string>();
    for (let n = 0; n < 100_000; n += 1) {
      const key = `key-${(n * 7919) % 100_003}`;
      map.set(key, `v${n}`);
      model.set(key, `v${n}`);
    }
    map.sorted();
    // Longer values go to the arena's end (the old text is dead); then most keys are deleted.
    for (let n = 0; n < 100_000; n += 3) {
      const key = `key-${(n * 7919) % 100_003}`;
      map.set(key, `a longer value ${n}`);
      model.set(key, `a longer value ${n}`);
    }
    for (let n = 0; n < 100_000; n += 1) {
      if (n % 3 === 1) continue;
      const key = `key-${(n * 7919) % 100_003}`;
      expect(map.delete(key)).toBe(model.delete(key));
    }
    for (let n = 0; n < 50_000; n += 1) {
      const key = `new-${n}`;
      map.set(key, 'x');
      model.set(key, 'x');
    }
    const keys = [...model.keys()].sort(jsOrder);
    expect(map.sorted()).toEqual({ keys, values: keys.map((key) => model.get(key)) });
    expect(keys.filter((key) => map.get(key) !== model.get(key))).toEqual([]);
    expect(map.get('key-1')).toBe(model.get('key-1'));
    // The arena holds little besides live text after the rewrites.
    expect(map.footprint()).toBeLessThan(map.liveBytes() * 2 + map.size() * 40 + 1_048_576 * 2);
  });

  it('finds no key for a lookup with a lone surrogate, though U+FFFD is stored, and stores none', () => {
    const map = createCompactMap();
    map.set('\ufffd', 'replacement character');
    expect(map.get('\ufffd')).toBe('replacement character');
    expect(map.get('\ud800')).toBeUndefined();
    expect(map.has('\udc00')).toBe(false);
    expect(map.delete('\ud800')).toBe(false);
    expect(map.size()).toBe(1);
    // Nor can such a key, or one past the u16 length of a key, be stored (the store refuses
    // both before: keyBytesMax, STORE_E_INVALID).
    expect(() => {
      map.set('\ud800', 'x');
    }).toThrow(RangeError);
    expect(() => {
      map.set('語'.repeat(30_000), 'x'); // 90,000 UTF-8 bytes in 30,000 UTF-16 units
    }).toThrow(RangeError);
    expect(map.size()).toBe(1);
  });

  it('refuses changes while its sorted entries are being walked', () => {
    const map = createCompactMap();
    map.set('a', '1');
    map.set('b', '2');
    expect(() => {
      map.forEachSorted(() => {
        map.set('c', '3');
      });
    }).toThrow(/changed during forEachSorted/);
    expect(map.sorted()).toEqual({ keys: ['a', 'b'], values: ['1', '2'] });
  });
});
