// Canonical JSON (RFC 8785 JCS, Coffer's integer-only profile): the RFC's examples, the
// cyberphone/json-canonicalization test data, and refusal of every non-canonical form.
import fc from 'fast-check';
import canonicalize from 'canonicalize';
import { describe, expect, it } from 'vitest';
import { isCofferError } from '../../src/errors/index.js';
import {
  canonicalBytes,
  canonicalDepthMax,
  canonicalBytesMax,
  canonicalString,
  parseCanonical,
} from '../../src/ledger/canonical.js';

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);
const decode = (bytes: Uint8Array): string => new TextDecoder().decode(bytes);

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isCofferError(error) ? error.code : `uncoded: ${String(error)}`;
  }
  return undefined;
}

describe('RFC 8785 examples', () => {
  // RFC 8785 §3.2.2 input (parsed), §3.2.3 output and §3.2.4 UTF-8 bytes. It has fractions,
  // which Coffer never signs, so it checks the `canonicalize` package the encoder relies on.
  const sample = JSON.parse(
    '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
      ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
      ' "literals": [null, true, false]}',
  ) as unknown;
  const sampleBytes = `
    7b 22 6c 69 74 65 72 61 6c 73 22 3a 5b 6e 75 6c 6c 2c 74 72
    75 65 2c 66 61 6c 73 65 5d 2c 22 6e 75 6d 62 65 72 73 22 3a
    5b 33 33 33 33 33 33 33 33 33 2e 33 33 33 33 33 33 33 2c 31
    65 2b 33 30 2c 34 2e 35 2c 30 2e 30 30 32 2c 31 65 2d 32 37
    5d 2c 22 73 74 72 69 6e 67 22 3a 22 e2 82 ac 24 5c 75 30 30
    30 66 5c 6e 41 27 42 5c 22 5c 5c 5c 5c 5c 22 2f 22 7d`;

  it('§3.2.3/§3.2.4: the sample canonicalizes to the published text and bytes', () => {
    const text = canonicalize(sample) ?? '';
    expect(text).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    expect(Buffer.from(text, 'utf8').toString('hex')).toBe(sampleBytes.replace(/\s+/g, ''));
  });

  it('§3.2.2 strings and literals, without the fractions, through canonicalBytes', () => {
    const { string, literals } = sample as { string: string; literals: unknown };
    const bytes = canonicalBytes({ string, literals });
    expect(decode(bytes)).toBe(
      '{"literals":[null,true,false],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    expect(parseCanonical(bytes)).toEqual({ string, literals });
  });

  it('§3.2.3: members sorted by UTF-16 code units, not code points or locale', () => {
    const value = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    const expected =
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
      '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
      '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}';
    expect(canonicalString(value)).toBe(expected);
    expect(parseCanonical(utf8(expected))).toEqual(value);
  });

  // cyberphone/json-canonicalization testdata/{input,output}/ (the RFC authors' test data).
  const cyberphone: readonly (readonly [string, string, string])[] = [
    [
      'french.json',
      '{\n  "peach": "This sorting order",\n  "péché": "is wrong according to French",\n  "pêche": "but canonicalization MUST",\n  "sin":   "ingnore locale"\n}\n',
      '{"peach":"This sorting order","péché":"is wrong according to French","pêche":"but canonicalization MUST","sin":"ingnore locale"}',
    ],
    [
      'structures.json',
      '{\n  "1": {"f": {"f": "hi","F": 5} ,"\\n": 56.0},\n  "10": { },\n  "": "empty",\n  "a": { },\n  "111": [ { } ],\n  "A": { }\n}',
      '{"":"empty","1":{"\\n":56,"f":{"F":5,"f":"hi"}},"10":{},"111":[{}],"A":{},"a":{}}',
    ],
    [
      'weird.json',
      '{\n  "\\u20ac": "Euro Sign",\n  "1": "One",\n  "\\u0080": "Control\\u007f",\n  "\\ud83d\\ude02": "Smiley",\n  "\\u00f6": "Latin Small Letter O With Diaeresis",\n  "\\ufb33": "Hebrew Letter Dalet With Dagesh",\n  "</script>": "Browser Challenge"\n}\n',
      '{"1":"One","</script>":"Browser Challenge","\u0080":"Control\u007f","ö":"Latin Small Letter O With Diaeresis","€":"Euro Sign","\ud83d\ude02":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    ],
  ];

  it.each(cyberphone)(
    'cyberphone testdata %s: canonical output; the input itself is refused',
    (_, input, output) => {
      const value = JSON.parse(input) as unknown;
      expect(canonicalString(value)).toBe(output);
      expect(parseCanonical(utf8(output))).toEqual(value);
      expect(codeOf(() => parseCanonical(utf8(input)))).toBe('LEDGER_E_NOT_CANONICAL');
    },
  );
});

describe('canonicalBytes: Coffer profile', () => {
  it('refuses fractions, unsafe integers, non-finite numbers and -0, naming the field', () => {
    for (const bad of [1.5, 2 ** 53, -(2 ** 53), Number.NaN, Infinity, -0, 1e21]) {
      let error: unknown;
      try {
        canonicalBytes({ amounts: [0, { value: bad }] });
      } catch (caught) {
        error = caught;
      }
      expect(isCofferError(error, 'LEDGER_E_JSON_VALUE'), String(bad)).toBe(true);
      expect(isCofferError(error) && error.details['field']).toBe('$.amounts[1].value');
    }
    expect(decode(canonicalBytes({ max: 2 ** 53 - 1, min: -(2 ** 53 - 1) }))).toBe(
      '{"max":9007199254740991,"min":-9007199254740991}',
    );
  });

  it('refuses what JSON cannot carry: undefined, functions, bigint, symbols, Dates, holes, lone surrogates', () => {
    const cases: unknown[] = [
      { a: undefined },
      [undefined],
      { f: () => 1 },
      { n: 1n },
      { s: Symbol('x') },
      { d: new Date(0) },
      { m: new Map() },
      { b: Buffer.from('x') },
      // eslint-disable-next-line no-sparse-arrays
      [1, , 3],
      { s: '\ud800' },
      { '\udc00': 1 },
      undefined,
    ];
    for (const value of cases)
      expect(codeOf(() => canonicalBytes(value))).toBe('LEDGER_E_JSON_VALUE');
    expect(
      decode(canonicalBytes(Object.assign(Object.create(null) as object, { b: 1, a: 2 }))),
    ).toBe('{"a":2,"b":1}');
  });

  it('limits nesting depth and size', () => {
    let deep: unknown = 0;
    for (let i = 0; i < canonicalDepthMax; i += 1) deep = [deep];
    expect(canonicalBytes(deep).length).toBe(2 * canonicalDepthMax + 1);
    expect(codeOf(() => canonicalBytes([deep]))).toBe('LEDGER_E_JSON_LIMIT');
    const cyclic: Record<string, unknown> = {};
    cyclic['self'] = cyclic;
    expect(codeOf(() => canonicalBytes(cyclic))).toBe('LEDGER_E_JSON_LIMIT');
    expect(codeOf(() => canonicalBytes('x'.repeat(canonicalBytesMax)))).toBe('LEDGER_E_JSON_LIMIT');
  });
});

describe('parseCanonical refuses bytes that are not exactly canonical', () => {
  const valid = '{"a":[1,"x",null,true],"b":{"c":-5}}';

  it('accepts canonical bytes and returns the value', () => {
    expect(parseCanonical(utf8(valid))).toEqual({ a: [1, 'x', null, true], b: { c: -5 } });
  });

  it.each([
    ['whitespace', '{"a":[1,"x",null,true], "b":{"c":-5}}'],
    ['trailing newline', `${valid}\n`],
    ['key order', '{"b":{"c":-5},"a":[1,"x",null,true]}'],
    ['duplicate key', '{"a":1,"a":1}'],
    ['escaped character that needs no escape', '{"a":"\\u0078"}'],
    ['escaped slash', '{"a":"\\/"}'],
    ['upper-case unicode escape', '{"a":"\\u001F"}'],
    ['exponent form of an integer', '{"a":1E2}'],
    ['integer with a fraction part', '{"a":1.0}'],
    ['negative zero', '{"a":-0}'],
  ])('%s', (_, text) => {
    const code = codeOf(() => parseCanonical(utf8(text)));
    expect(['LEDGER_E_NOT_CANONICAL', 'LEDGER_E_JSON_VALUE']).toContain(code);
  });

  it('reports where the bytes depart from the canonical form', () => {
    try {
      parseCanonical(utf8('{"a":1, "b":2}'));
      expect.unreachable();
    } catch (error) {
      expect(isCofferError(error, 'LEDGER_E_NOT_CANONICAL')).toBe(true);
      expect(isCofferError(error) && error.details['byteOffset']).toBe(7);
    }
  });

  it('refuses non-UTF-8, a byte order mark, non-JSON, fractions, too deep and too long', () => {
    expect(codeOf(() => parseCanonical(Uint8Array.of(0x22, 0xc3, 0x28, 0x22)))).toBe(
      'LEDGER_E_JSON_MALFORMED',
    );
    expect(codeOf(() => parseCanonical(Uint8Array.of(0xef, 0xbb, 0xbf, 0x31)))).toBe(
      'LEDGER_E_JSON_MALFORMED',
    );
    expect(codeOf(() => parseCanonical(utf8('{"a":')))).toBe('LEDGER_E_JSON_MALFORMED');
    expect(codeOf(() => parseCanonical(utf8('')))).toBe('LEDGER_E_JSON_MALFORMED');
    expect(codeOf(() => parseCanonical(utf8('{"a":1.5}')))).toBe('LEDGER_E_JSON_VALUE');
    expect(codeOf(() => parseCanonical(utf8('9007199254740993')))).toBe('LEDGER_E_JSON_VALUE');
    expect(codeOf(() => parseCanonical(utf8('"\\ud800"')))).toBe('LEDGER_E_JSON_VALUE');
    const deep = '['.repeat(canonicalDepthMax + 1) + ']'.repeat(canonicalDepthMax + 1);
    expect(codeOf(() => parseCanonical(utf8(deep)))).toBe('LEDGER_E_JSON_LIMIT');
    const ok = '['.repeat(canonicalDepthMax) + ']'.repeat(canonicalDepthMax);
    expect(parseCanonical(utf8(ok))).toBeDefined();
    // Many brackets side by side are not nesting either (the full scan decides, not the count).
    const wide = `[${Array.from({ length: 2 * canonicalDepthMax }, () => '{}').join(',')}]`;
    expect(parseCanonical(utf8(wide))).toHaveLength(2 * canonicalDepthMax);
    // Brackets inside strings do not count as nesting.
    expect(parseCanonical(utf8(`["${'['.repeat(200)}\\""]`))).toEqual([`${'['.repeat(200)}"`]);
    expect(codeOf(() => parseCanonical(new Uint8Array(canonicalBytesMax + 1)))).toBe(
      'LEDGER_E_JSON_LIMIT',
    );
    expect(codeOf(() => parseCanonical('{}' as unknown as Uint8Array))).toBe(
      'LEDGER_E_JSON_MALFORMED',
    );
  });
});

describe('properties', () => {
  // JSON data of Coffer's profile: safe integers, any well-formed strings, nested containers.
  const jsonValue = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.maxSafeInteger(),
      fc.string({ unit: 'grapheme' }),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(fc.string({ unit: 'grapheme' }), tie('value'), { maxKeys: 5 }),
    ),
  })).value;

  it('round trip: parseCanonical(canonicalBytes(v)) equals v, and re-encoding gives the same bytes', () => {
    fc.assert(
      fc.property(jsonValue, (value) => {
        const bytes = canonicalBytes(value);
        const parsed = parseCanonical(bytes);
        expect(parsed).toEqual(value);
        expect(Buffer.from(canonicalBytes(parsed)).equals(Buffer.from(bytes))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  // Member names that JavaScript enumerates out of insertion order ("2" before "10", both
  // before "a") or that sort by UTF-16 code units differently from code points.
  const memberName = fc.oneof(
    fc.string({ unit: 'grapheme' }),
    fc.nat({ max: 20 }).map(String),
    fc.constantFrom('\u{1F600}', '\uFB33', 'a', 'A', '_', '', '10', '-1', '01'),
  );
  const tricky = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      fc.constant(null),
      fc.boolean(),
      fc.maxSafeInteger(),
      fc.string({ unit: 'binary' }).filter((text) => !/\p{Cs}/u.test(text)),
      fc.array(tie('value'), { maxLength: 5 }),
      fc.dictionary(memberName, tie('value'), { maxKeys: 6 }),
    ),
  })).value;
  /** The same data with every object rebuilt with its members inserted in sorted order. */
  const inserted = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(inserted);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      out[key] = inserted((value as Record<string, unknown>)[key]);
    }
    return out;
  };

  it("the native path for members already in order gives canonicalize's bytes, always", () => {
    fc.assert(
      fc.property(tricky, (value) => {
        for (const variant of [value, inserted(value)]) {
          expect(canonicalString(variant)).toBe(canonicalize(variant));
          const bytes = canonicalBytes(variant);
          expect(parseCanonical(bytes)).toEqual(variant);
        }
      }),
      { numRuns: 1000 },
    );
    // Integer-like names enumerate first whatever the insertion order: "10" < "9" in RFC 8785.
    expect(canonicalString({ 9: 1, 10: 2, a: { 2: 0, 10: 0 } })).toBe(
      '{"10":2,"9":1,"a":{"10":0,"2":0}}',
    );
    expect(canonicalString({ '\u{1F600}': 1, '\uFB33': 2 })).toBe('{"\u{1F600}":1,"\uFB33":2}');
  });

  it('pretty-printed JSON of a non-trivial object is never accepted', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ minLength: 1 }), jsonValue, { minKeys: 1, maxKeys: 5 }),
        (value) => {
          const pretty = JSON.stringify(value, null, 1);
          expect(codeOf(() => parseCanonical(utf8(pretty)))).toBe('LEDGER_E_NOT_CANONICAL');
        },
      ),
      { numRuns: 200 },
    );
  });
});
