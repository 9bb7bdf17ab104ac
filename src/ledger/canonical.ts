// Canonical bytes for everything Coffer signs: RFC 8785 JSON Canonicalization Scheme (JCS),
// through `canonicalize` (by an RFC 8785 author). Coffer uses a strict profile of it:
// numbers are safe integers only (amounts travel as decimal strings, so no float formatting
// is ever signed), strings are well-formed UTF-16, and values are plain JSON data.
//
// `parseCanonical` accepts bytes only if they are exactly the canonical form of what they
// parse to, so the bytes a client signed are the bytes the ledger stores and hashes.
import canonicalize from 'canonicalize';
import { cofferError } from '../errors/index.js';

/** Largest canonical JSON text, in UTF-8 bytes (a 4 MiB ordered batch must fit). */
export const canonicalBytesMax = 8 * 1024 * 1024;
/** Deepest nesting of arrays and objects (the top-level value is depth 1). */
export const canonicalDepthMax = 64;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const identifier = /^[A-Za-z_$][\w$]*$/;

function childPath(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return identifier.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

/** Whether a string holds a lone UTF-16 surrogate (natively; one-byte strings never do). */
function hasLoneSurrogate(text: string): boolean {
  return !text.isWellFormed();
}

function badValue(path: string, what: string): Error {
  return cofferError('LEDGER_E_JSON_VALUE', `${path} ${what}`, { field: path });
}

function tooDeep(path: string): Error {
  return cofferError(
    'LEDGER_E_JSON_LIMIT',
    `${path} is nested deeper than ${canonicalDepthMax} levels`,
    { field: path, depthMax: canonicalDepthMax },
  );
}

/** The path of a field, e.g. `$.args.items[3]`, built only when an error names it. */
function pathOf(parts: readonly (string | number)[]): string {
  return parts.reduce<string>((path, key) => childPath(path, key), '$');
}

/**
 * Checks `value` is data of Coffer's JCS profile; throws naming the first bad field. Returns
 * whether every object's members already come in RFC 8785 order (strictly increasing by UTF-16
 * code units, as `<` compares strings) in the order JavaScript enumerates them.
 */
function checkValue(value: unknown, parts: (string | number)[]): boolean {
  switch (typeof value) {
    case 'boolean':
      return true;
    case 'number':
      if (!Number.isSafeInteger(value)) {
        throw badValue(
          pathOf(parts),
          `is the number ${String(value)}; only integers within ±(2^53 - 1) are allowed (send amounts as decimal strings)`,
        );
      }
      if (Object.is(value, -0)) throw badValue(pathOf(parts), 'is negative zero');
      return true;
    case 'string':
      if (hasLoneSurrogate(value)) throw badValue(pathOf(parts), 'holds a lone UTF-16 surrogate');
      return true;
    case 'object': {
      if (value === null) return true;
      if (parts.length >= canonicalDepthMax) throw tooDeep(pathOf(parts));
      let ordered = true;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i += 1) {
          parts.push(i);
          if (!(i in value)) throw badValue(pathOf(parts), 'is a hole in a sparse array');
          if (!checkValue(value[i], parts)) ordered = false;
          parts.pop();
        }
        return ordered;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw badValue(
          pathOf(parts),
          'is not a plain object (Dates, Maps, Buffers and classes are not JSON)',
        );
      }
      if (Object.getOwnPropertySymbols(value).length > 0) {
        throw badValue(pathOf(parts), 'has symbol keys');
      }
      let previous: string | undefined;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        parts.push(key);
        if (hasLoneSurrogate(key)) {
          throw badValue(pathOf(parts), 'is a member name with a lone UTF-16 surrogate');
        }
        if (previous !== undefined && !(previous < key)) ordered = false;
        previous = key;
        if (!checkValue((value as Record<string, unknown>)[key], parts)) ordered = false;
        parts.pop();
      }
      return ordered;
    }
    default:
      throw badValue(pathOf(parts), `is ${typeof value}, which JSON cannot represent`);
  }
}

/**
 * RFC 8785 text of a value `checkValue` accepted. For this profile (no fractions, no lone
 * surrogates, plain data) RFC 8785 serializes strings, integers and literals exactly as
 * JSON.stringify does (§3.2.2), so when members are already in order JSON.stringify's native
 * output is the canonical text; otherwise `canonicalize` sorts them. Tests compare both.
 */
function encode(value: unknown, ordered: boolean): string {
  if (ordered) return JSON.stringify(value);
  const text = canonicalize(value);
  if (text === undefined) throw badValue('$', 'has no JSON representation');
  return text;
}

function tooLong(bytes: number): Error {
  return cofferError(
    'LEDGER_E_JSON_LIMIT',
    `canonical JSON is ${bytes} bytes; at most ${canonicalBytesMax}`,
    { bytes, bytesMax: canonicalBytesMax },
  );
}

/** RFC 8785 canonical JSON text of `value`, checked against Coffer's profile and limits. */
export function canonicalString(value: unknown): string {
  const text = encode(value, checkValue(value, []));
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > canonicalBytesMax) throw tooLong(bytes);
  return text;
}

/** RFC 8785 canonical UTF-8 bytes of `value`: the bytes that are signed, stored and hashed. */
export function canonicalBytes(value: unknown): Uint8Array {
  const buffer = Buffer.from(encode(value, checkValue(value, [])), 'utf8');
  if (buffer.byteLength > canonicalBytesMax) throw tooLong(buffer.byteLength);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Whether JSON text has more opening brackets than the depth limit (inside strings too). */
function mayExceedDepth(text: string): boolean {
  let count = 0;
  for (let at = text.indexOf('{'); at !== -1; at = text.indexOf('{', at + 1)) count += 1;
  for (let at = text.indexOf('['); at !== -1; at = text.indexOf('[', at + 1)) count += 1;
  return count > canonicalDepthMax;
}

/** Nesting depth of JSON text, counting brackets outside strings; stops past the limit. */
function exceedsDepth(text: string): number | undefined {
  if (!mayExceedDepth(text)) return undefined; // the common case, without a loop in JS
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i += 1; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > canonicalDepthMax) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth -= 1;
    }
  }
  return undefined;
}

/**
 * Parses canonical JSON bytes. Refuses, with a coded error, bytes that are too long or too
 * deep (LEDGER_E_JSON_LIMIT), not UTF-8 JSON (LEDGER_E_JSON_MALFORMED), outside Coffer's
 * profile (LEDGER_E_JSON_VALUE), or not byte for byte the RFC 8785 form of the value they
 * parse to (LEDGER_E_NOT_CANONICAL: whitespace, key order, escapes, duplicate keys, ...).
 */
export function parseCanonical(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw cofferError(
      'LEDGER_E_JSON_MALFORMED',
      `canonical JSON must be bytes, got ${typeof bytes}`,
    );
  }
  if (bytes.byteLength > canonicalBytesMax) {
    throw cofferError(
      'LEDGER_E_JSON_LIMIT',
      `JSON is ${bytes.byteLength} bytes; at most ${canonicalBytesMax}`,
      { bytes: bytes.byteLength, bytesMax: canonicalBytesMax },
    );
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch (cause) {
    throw cofferError('LEDGER_E_JSON_MALFORMED', 'JSON bytes are not valid UTF-8', {}, cause);
  }
  const deepAt = exceedsDepth(text);
  if (deepAt !== undefined) {
    throw cofferError(
      'LEDGER_E_JSON_LIMIT',
      `JSON is nested deeper than ${canonicalDepthMax} levels (at character ${deepAt})`,
      { depthMax: canonicalDepthMax },
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw cofferError(
      'LEDGER_E_JSON_MALFORMED',
      `not JSON: ${(cause as Error).message}`,
      {},
      cause,
    );
  }
  const canonical = encode(value, checkValue(value, []));
  if (canonical !== text) {
    let at = 0;
    while (at < text.length && text[at] === canonical[at]) at += 1;
    const byteOffset = Buffer.byteLength(text.slice(0, at), 'utf8');
    throw cofferError(
      'LEDGER_E_NOT_CANONICAL',
      `JSON is not in RFC 8785 canonical form: from byte ${byteOffset} it has ` +
        `${JSON.stringify(text.slice(at, at + 16))} where the canonical form has ` +
        JSON.stringify(canonical.slice(at, at + 16)),
      { byteOffset },
    );
  }
  return value;
}
