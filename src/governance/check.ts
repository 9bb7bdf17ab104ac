// Small validators shared by genesis checks and proposal actions. Every failure names the
// path of the field (STYLE.md 8) under the error code the caller chose.
import { cofferError, type ErrorCode } from '../errors/index.js';
import { canonicalString } from '../ledger/canonical.js';

export type BadField = (field: string, what: string) => never;

export function badFieldOf(code: ErrorCode): BadField {
  return (field, what) => {
    throw cofferError(code, `${field} ${what}`, { field });
  };
}

export type Json = Record<string, unknown>;

export function objectAt(value: unknown, field: string, bad: BadField): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    bad(field, 'must be a JSON object');
  return value as Json;
}

export function onlyKeys(value: Json, keys: readonly string[], field: string, bad: BadField): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key)) bad(`${field}.${key}`, `is not a field (expected ${keys.join(', ')})`);
  }
}

/** MSP IDs, node ids: letters, digits, '.', '_' and '-', as Fabric's policy syntax allows. */
export const idPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Code ids: hex SHA-256 (lower case). */
export const codeIdPattern = /^[0-9a-f]{64}$/;
/**
 * A node's API address, where its peers reach it: https, a host and a port, nothing else (no
 * credentials, path or query: peers append the API paths themselves).
 */
export const nodeUrlPattern = /^https:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/;
/** Proposal ids are transaction ids: hex SHA-256 (lower case). */
export const proposalIdPattern = codeIdPattern;

export function stringAt(
  value: unknown,
  field: string,
  pattern: RegExp,
  charsMax: number,
  bad: BadField,
): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax)
    bad(field, `must be a string of 1 to ${charsMax} characters`);
  if (!pattern.test(value)) bad(field, `must match ${String(pattern)}`);
  return value;
}

export function integerAt(
  value: unknown,
  field: string,
  min: number,
  max: number,
  bad: BadField,
): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max)
    bad(field, `must be a whole number from ${min} to ${max}`);
  return value;
}

/** Canonical JSON bytes of a value (RFC 8785): what the configuration stores. */
export function canonicalJsonBytes(value: unknown): number {
  return Buffer.byteLength(canonicalString(value), 'utf8');
}

/** Plain JS string order, the same on every node (localeCompare is not). */
export function byString(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
