// The app bundle format: {format, manifest, code}. The manifest names the app, its version and
// its endpoints (mode, auth policy, JSON Schemas of input and output); the code is the app's
// compiled JavaScript (CommonJS, from `coffer app build`). Validation is pure and names the
// failing field: every node refuses a malformed bundle with the same message.
import { createHash } from 'node:crypto';
import { Ajv, type ValidateFunction } from 'ajv';
import { cofferError, isCofferError } from '../../errors/index.js';
import { parsePolicy, type Rule, type SignaturePolicy } from '../../msp/index.js';
import { canonicalString } from '../../ledger/canonical.js';
import { endorsementsMax } from '../../ledger/tx.js';
import {
  bundleBytesMax,
  codeBytesMax,
  endpointsMax,
  feedTriggersMax,
  schemaBytesMax,
} from './limits.js';

export const bundleFormat = 'coffer-app/1';

export type EndpointMode = 'readonly' | 'readwrite';

/** Who may call an endpoint (decision 0014). */
export type AuthPolicy =
  | { readonly kind: 'any' }
  /** An MSP role in Fabric's principal syntax: `Org1MSP.client`, `Org2MSP.admin`. */
  | { readonly kind: 'role'; readonly role: string }
  /** A Fabric signature policy that one signer can satisfy. */
  | { readonly kind: 'policy'; readonly policy: string }
  /** Only run when a new data point of this oracle feed arrives (never called directly). */
  | { readonly kind: 'oracle'; readonly feed: string };

export type EndpointSpec = {
  readonly summary: string;
  readonly mode: EndpointMode;
  readonly auth: AuthPolicy;
  readonly input: Readonly<Record<string, unknown>>;
  readonly output: Readonly<Record<string, unknown>>;
};

export type Manifest = {
  readonly name: string;
  readonly version: string;
  readonly summary: string;
  readonly endpoints: Readonly<Record<string, EndpointSpec>>;
};

export type Bundle = {
  readonly format: typeof bundleFormat;
  readonly manifest: Manifest;
  readonly code: string;
};

/** A validated bundle with everything execution needs, compiled once per digest. */
export type CompiledEndpoint = EndpointSpec & {
  readonly name: string;
  readonly validateInput: ValidateFunction;
  readonly validateOutput: ValidateFunction;
  /** The parsed policy of a `role` or `policy` endpoint. */
  readonly signaturePolicy?: SignaturePolicy;
};

export type CompiledBundle = {
  readonly bundle: Bundle;
  /** Hex SHA-256 of the bundle's canonical JSON. */
  readonly digest: string;
  readonly endpoints: ReadonlyMap<string, CompiledEndpoint>;
};

export const appNamePattern = /^[a-z][a-z0-9-]{1,31}$/;
export const endpointNamePattern = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
export const feedNamePattern = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// Semantic versioning 2.0.0 without pre-release or build parts: numbers compare simply.
const versionPattern = /^(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})\.(0|[1-9][0-9]{0,8})$/;
/** Built-in apps and names kept for Coffer itself. */
export const reservedAppNames: ReadonlySet<string> = new Set([
  'kv',
  'token',
  'apps',
  'oracles',
  'coffer',
  'governance',
  'gov',
  'custody',
]);

function invalid(field: string, what: string): never {
  throw cofferError('APP_E_BUNDLE_INVALID', `${field} ${what}`, { field });
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function record(value: unknown, field: string): Readonly<Record<string, unknown>> {
  if (!isRecord(value)) invalid(field, 'must be a JSON object');
  return value;
}

function only(value: Readonly<Record<string, unknown>>, field: string, keys: string[]): void {
  for (const key of Object.keys(value)) {
    if (!keys.includes(key))
      invalid(`${field}.${key}`, `is not a field (expected ${keys.join(', ')})`);
  }
}

function text(value: unknown, field: string, pattern: RegExp, charsMax: number): string {
  if (typeof value !== 'string' || value.length > charsMax || !pattern.test(value)) {
    invalid(
      field,
      `must be a string matching ${String(pattern)} of at most ${charsMax} characters`,
    );
  }
  return value;
}

/** [major, minor, patch] of a version string the manifest check accepted. */
export function parseVersion(version: string): readonly [number, number, number] {
  const match = versionPattern.exec(version);
  if (match === null) return invalid('manifest.version', `${version} is not MAJOR.MINOR.PATCH`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** Negative, zero or positive as version a is lower than, equal to or higher than b. */
export function compareVersions(a: string, b: string): number {
  const [x, y] = [parseVersion(a), parseVersion(b)];
  for (let i = 0; i < 3; i++) {
    const diff = (x[i] ?? 0) - (y[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

/** Fewest distinct signers that can satisfy a rule: each signature counts once (cauthdsl). */
export function signersNeeded(rule: Rule): number {
  if ('signedBy' in rule) return 1;
  const needs = rule.nOutOf.rules.map(signersNeeded).sort((a, b) => a - b);
  if (rule.nOutOf.n > needs.length) return Number.POSITIVE_INFINITY;
  return needs.slice(0, rule.nOutOf.n).reduce((sum, need) => sum + need, 0);
}

function parseAuth(value: unknown, field: string): { auth: AuthPolicy; policy?: SignaturePolicy } {
  const auth = record(value, field);
  const kind = auth['kind'];
  const policyOf = (policyText: string, what: string): SignaturePolicy => {
    let policy: SignaturePolicy;
    try {
      policy = parsePolicy(policyText);
    } catch (error) {
      if (!isCofferError(error)) throw error;
      return invalid(what, `is not a Fabric signature policy: ${error.message}`);
    }
    const needed = signersNeeded(policy.rule);
    if (needed > 1 + endorsementsMax) {
      throw cofferError(
        'APP_E_POLICY_UNSUPPORTED',
        `${what} ${policyText} needs ${needed} distinct signers; a transaction carries at most ${1 + endorsementsMax} (its signer and ${endorsementsMax} endorsements)`,
        { field: what },
      );
    }
    return policy;
  };
  switch (kind) {
    case 'any':
      only(auth, field, ['kind']);
      return { auth: { kind } };
    case 'role': {
      only(auth, field, ['kind', 'role']);
      const role = text(
        auth['role'],
        `${field}.role`,
        /^[A-Za-z0-9.-]+\.(member|admin|client|peer|orderer)$/,
        256,
      );
      return { auth: { kind, role }, policy: policyOf(`OR('${role}')`, `${field}.role`) };
    }
    case 'policy': {
      only(auth, field, ['kind', 'policy']);
      const policyText = text(auth['policy'], `${field}.policy`, /^[\x20-\x7e]+$/, 4096);
      return {
        auth: { kind, policy: policyText },
        policy: policyOf(policyText, `${field}.policy`),
      };
    }
    case 'oracle': {
      only(auth, field, ['kind', 'feed']);
      return { auth: { kind, feed: text(auth['feed'], `${field}.feed`, feedNamePattern, 64) } };
    }
    default:
      return invalid(`${field}.kind`, 'must be one of any, role, policy, oracle');
  }
}

// One Ajv for every bundle: compiled validators are pure functions of the schema. Strict mode
// refuses unknown keywords, so a typo in a schema is a clear install error, not a silent pass.
const ajv = new Ajv({
  strict: true,
  strictRequired: false,
  logger: false,
  allErrors: false,
  validateFormats: false,
});

function compileSchema(value: unknown, field: string): ValidateFunction {
  const schema = record(value, field);
  if (Buffer.byteLength(JSON.stringify(schema)) > schemaBytesMax) {
    invalid(field, `is larger than schemaBytesMax (${schemaBytesMax} bytes)`);
  }
  try {
    return ajv.compile(schema);
  } catch (error) {
    return invalid(field, `is not a valid JSON Schema: ${(error as Error).message}`);
  } finally {
    // The validator stays usable; Ajv's own cache would otherwise grow with every bundle read.
    ajv.removeSchema(schema);
  }
}

/** The first validation error of an Ajv validator, as `path message`. */
export function schemaError(validate: ValidateFunction): string {
  const first = validate.errors?.[0];
  if (first === undefined) return 'does not match the schema';
  return `${first.instancePath === '' ? '(root)' : first.instancePath} ${first.message ?? 'is invalid'}`;
}

function parseEndpoint(name: string, value: unknown): CompiledEndpoint {
  const field = `manifest.endpoints.${name}`;
  const spec = record(value, field);
  only(spec, field, ['summary', 'mode', 'auth', 'input', 'output']);
  const summary = spec['summary'] ?? '';
  if (typeof summary !== 'string' || summary.length > 512) {
    invalid(`${field}.summary`, 'must be a string of at most 512 characters');
  }
  const mode = spec['mode'];
  if (mode !== 'readonly' && mode !== 'readwrite') {
    invalid(`${field}.mode`, 'must be readonly or readwrite');
  }
  const { auth, policy } = parseAuth(spec['auth'], `${field}.auth`);
  if (auth.kind === 'oracle' && mode !== 'readwrite') {
    invalid(`${field}.mode`, 'must be readwrite for an oracle-triggered endpoint');
  }
  const input = record(spec['input'], `${field}.input`);
  const output = record(spec['output'], `${field}.output`);
  return {
    name,
    summary,
    mode,
    auth,
    input,
    output,
    validateInput: compileSchema(input, `${field}.input`),
    validateOutput: compileSchema(output, `${field}.output`),
    ...(policy === undefined ? {} : { signaturePolicy: policy }),
  };
}

/** Checks a bundle (already JSON-parsed) field by field; throws APP_E_BUNDLE_INVALID. */
export function compileBundle(value: unknown): CompiledBundle {
  const bundle = record(value, 'bundle');
  only(bundle, 'bundle', ['format', 'manifest', 'code']);
  if (bundle['format'] !== bundleFormat) invalid('bundle.format', `must be ${bundleFormat}`);
  const canonical = canonicalString(bundle);
  const bytes = Buffer.byteLength(canonical);
  if (bytes > bundleBytesMax) {
    invalid('bundle', `is ${bytes} bytes; at most bundleBytesMax (${bundleBytesMax})`);
  }
  const code = bundle['code'];
  if (typeof code !== 'string' || code.length === 0)
    invalid('bundle.code', 'must be a non-empty string');
  if (Buffer.byteLength(code) > codeBytesMax) {
    invalid('bundle.code', `is larger than codeBytesMax (${codeBytesMax} bytes)`);
  }
  const manifest = record(bundle['manifest'], 'manifest');
  only(manifest, 'manifest', ['name', 'version', 'summary', 'endpoints']);
  const name = text(manifest['name'], 'manifest.name', appNamePattern, 32);
  const version = text(manifest['version'], 'manifest.version', versionPattern, 32);
  const summary = manifest['summary'] ?? '';
  if (typeof summary !== 'string' || summary.length > 512) {
    invalid('manifest.summary', 'must be a string of at most 512 characters');
  }
  const endpointsValue = record(manifest['endpoints'], 'manifest.endpoints');
  const names = Object.keys(endpointsValue);
  if (names.length === 0 || names.length > endpointsMax) {
    invalid('manifest.endpoints', `must declare 1 to ${endpointsMax} endpoints`);
  }
  const endpoints = new Map<string, CompiledEndpoint>();
  const feeds = new Map<string, number>();
  for (const endpointName of names) {
    text(endpointName, `manifest.endpoints.${endpointName}`, endpointNamePattern, 64);
    const endpoint = parseEndpoint(endpointName, endpointsValue[endpointName]);
    if (endpoint.auth.kind === 'oracle') {
      feeds.set(endpoint.auth.feed, (feeds.get(endpoint.auth.feed) ?? 0) + 1);
    }
    endpoints.set(endpointName, endpoint);
  }
  for (const [feed, count] of feeds) {
    if (count > 1) invalid('manifest.endpoints', `trigger feed ${feed} more than once`);
  }
  if (feeds.size > feedTriggersMax) {
    invalid('manifest.endpoints', `may be triggered by at most ${feedTriggersMax} feeds`);
  }
  const checked: Bundle = {
    format: bundleFormat,
    manifest: {
      name,
      version,
      summary,
      endpoints: Object.fromEntries(
        [...endpoints].map(([key, item]) => [
          key,
          {
            summary: item.summary,
            mode: item.mode,
            auth: item.auth,
            input: item.input,
            output: item.output,
          },
        ]),
      ),
    },
    code,
  };
  return {
    bundle: checked,
    digest: createHash('sha256').update(canonical).digest('hex'),
    endpoints,
  };
}
