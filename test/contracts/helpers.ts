// Shared by the contracts tests: bundles made by hand (code as a CommonJS string).
import { bundleFormat } from '../../src/contracts/index.js';

export type Endpoints = Record<string, Record<string, unknown>>;

export function bundle(
  code: string,
  endpoints: Endpoints,
  manifest: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    format: bundleFormat,
    manifest: { name: 'demo', version: '1.0.0', summary: 'test app', endpoints, ...manifest },
    code,
  };
}

/** A readwrite endpoint open to any identity, taking any object, returning anything. */
export const rw = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  mode: 'readwrite',
  auth: { kind: 'any' },
  input: { type: 'object' },
  output: {},
  ...extra,
});
