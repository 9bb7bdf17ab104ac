import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isBase64 } from '../../src/crypto/index.js';

// What it replaces, in consensus (ledger/tx.ts): every node must find the same envelopes
// malformed, so the verdicts must be exactly the old ones.
const pattern = /^[A-Za-z0-9+/]*={0,2}$/;
const byPattern = (text: string): boolean => pattern.test(text) && text.length % 4 === 0;

describe('isBase64', () => {
  it('accepts what encoders write, of every length', () => {
    for (let length = 0; length < 70; length += 1) {
      const text = Buffer.from(Array.from({ length }, (_, i) => (i * 37) % 256)).toString('base64');
      expect(isBase64(text)).toBe(true);
    }
  });

  it('refuses other alphabets, misplaced or extra padding, whitespace and wrong lengths', () => {
    for (const text of ['QQ=', 'Q===', '====', 'QQ==QQ==', '=QQQ', 'QQ-_', 'QQ Q', 'QQ\nQ', 'Q']) {
      expect(isBase64(text), text).toBe(false);
    }
    expect(isBase64('QUJD\u00e9QQ==')).toBe(false);
    expect(isBase64('QU\u0100D')).toBe(false);
  });

  it('agrees with /^[A-Za-z0-9+/]*={0,2}$/ and a length of 4n on every string of up to 5 tricky characters', () => {
    const chars = ['A', 'z', '9', '+', '/', '=', '-', '_', ' ', '\n', '.', '\u00ff', '\u0141'];
    let checked = 0;
    const disagreements: string[] = [];
    const walk = (prefix: string): void => {
      if (isBase64(prefix) !== byPattern(prefix)) disagreements.push(prefix);
      checked += 1;
      if (prefix.length === 5) return;
      for (const char of chars) walk(prefix + char);
    };
    walk('');
    expect(disagreements).toEqual([]);
    expect(checked).toBe((13 ** 6 - 1) / 12);
  });

  it('agrees with the pattern on random strings near valid base64', () => {
    const near = fc
      .tuple(
        fc.uint8Array({ maxLength: 60 }),
        fc.array(fc.tuple(fc.nat(), fc.constantFrom('=', '-', '_', ' ', '\u00e9', '*', '')), {
          maxLength: 3,
        }),
      )
      .map(([bytes, edits]) => {
        let text = Buffer.from(bytes).toString('base64');
        for (const [at, char] of edits) {
          const i = text.length === 0 ? 0 : at % text.length;
          text = text.slice(0, i) + char + text.slice(i + 1);
        }
        return text;
      });
    fc.assert(
      fc.property(fc.oneof(near, fc.string({ maxLength: 40 })), (text) => {
        expect(isBase64(text)).toBe(byPattern(text));
      }),
      { numRuns: 20_000 },
    );
  });
});
