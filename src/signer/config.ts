// The signer's configuration file (signer.json) and its limits. Paths are relative to the
// file's folder. Checking is a pure function of the JSON (every failure names its field);
// reading the file is the only IO here.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { cofferError } from '../errors/index.js';
import { receiptEntryBytesMax, signedRootsMax } from '../ledger/receipt.js';
import { digestsPerRequestMax } from './approval.js';
import { auditLogBytesMaxDefault, auditSegmentBytesMin } from './audit.js';

/** Default listening address: loopback, so that a signer is never exposed by accident. */
export const listenHostDefault = '127.0.0.1';
export const listenPortDefault = 7700;
/** Sign requests handled at once; more get SIGNER_E_BUSY (HTTP 429). */
export const requestsInFlightMaxDefault = 64;
export const requestsInFlightMax = 4096;
/**
 * Open connections past which a new one is answered SIGNER_E_TOO_MANY_CONNECTIONS (HTTP 503) and
 * closed; connectionsHardMargin more and Node closes new ones before their TLS handshake. A
 * signer's callers are a few custody workers on keep-alive connections.
 */
export const connectionsMaxDefault = 256;
export const connectionsMaxLimit = 100_000;
export const connectionsHardMargin = 64;
/** Largest receipt in a sign request, in bytes of JSON: a custody entry is a few KiB. */
export const receiptBytesMax = 1024 * 1024;
/** Largest sign request body: the receipt, the digests (quoted, comma) and the short fields. */
export const signRequestBytesMax = receiptBytesMax + digestsPerRequestMax * (64 + 3) + 4 * 1024;
/** Longest walletId or withdrawalId, in characters. */
export const idCharsMax = 256;
/** Longest keyId, in characters (hex of a CKA_ID of at most 64 bytes). */
export const keyIdCharsMax = 128;
/** Default and largest age of a receipt's newest root signature when it is presented. */
export const receiptAgeMsMaxDefault = 24 * 60 * 60 * 1000;
export const receiptAgeMsMaxLimit = 30 * 24 * 60 * 60 * 1000;
/** A root signed this far in the signer's future is still accepted (clocks drift). */
export const clockSkewMsMax = 5 * 60 * 1000;
/** Organisations in a consortium, and entries in the authorised-callers list. */
export const consortiumMspsMax: number = 64;
export const authorisedCallersMax = 1024;
/** Bounds of the audit file's size before rotation (default auditLogBytesMaxDefault, 64 MiB). */
export const auditLogBytesMaxMin: number = 1024 * 1024;
export const auditLogBytesMaxLimit: number = 1024 * 1024 * 1024;
/** Default and bounds of the time between checks of the consortium's MSP folders. */
export const mspReloadIntervalMsDefault: number = 2000;
export const mspReloadIntervalMsMin: number = 250;
export const mspReloadIntervalMsMax: number = 10 * 60 * 1000;
/** Largest config file, in bytes. */
export const configBytesMax = 1024 * 1024;

assert(
  receiptBytesMax <= Math.ceil(receiptEntryBytesMax / 3) * 4,
  'a receipt the signer accepts is one the ledger can make',
);
assert(consortiumMspsMax <= signedRootsMax, 'organisationsMin stays within verifyReceipt bounds');
assert(auditSegmentBytesMin <= auditLogBytesMaxMin, 'a rotated audit segment holds several lines');
assert(auditLogBytesMaxMin <= auditLogBytesMaxDefault);
assert(auditLogBytesMaxDefault <= auditLogBytesMaxLimit);
assert(mspReloadIntervalMsMin <= mspReloadIntervalMsDefault);
assert(mspReloadIntervalMsDefault <= mspReloadIntervalMsMax);

export type CallerRole = 'client' | 'peer' | 'admin' | 'orderer' | 'member';
const callerRoles: readonly CallerRole[] = ['client', 'peer', 'admin', 'orderer', 'member'];

/** One authorised caller: every field given must match the caller's MSP identity. */
export type AuthorisedCaller = {
  readonly mspId: string;
  /** NodeOU role of the identity ('client' for a custody worker's identity). */
  readonly role?: CallerRole;
  /** Fabric identity id: hex SHA-256 of the certificate. */
  readonly identityId?: string;
};

export type KeyStoreConfig =
  | {
      readonly kind: 'pkcs11';
      readonly library: string;
      readonly tokenLabel: string;
      readonly pin: { readonly pinFile: string } | { readonly pinEnv: string };
      readonly sessions?: number;
    }
  | { readonly kind: 'software'; readonly file: string; readonly passphraseFile: string };

export type SignerConfig = {
  readonly listen: { readonly host: string; readonly port: number };
  readonly tls: { readonly certFile: string; readonly keyFile: string };
  readonly consortium: readonly { readonly mspId: string; readonly mspDir: string }[];
  readonly authorisedCallers: readonly AuthorisedCaller[];
  /** Organisations whose nodes must have signed a receipt's root (default: a strict majority). */
  readonly organisationsMin: number;
  readonly receiptAgeMsMax: number;
  readonly requestsInFlightMax: number;
  /** Open connections served (connectionsMaxDefault); see connectionsHardMargin. */
  readonly connectionsMax: number;
  readonly keyStore: KeyStoreConfig;
  /** Append-only audit log of signatures and refusals (JSON lines, fsync'd). */
  readonly auditLog: string;
  /** Size at which the audit log is rotated into a numbered segment, in bytes. */
  readonly auditLogBytesMax: number;
  /** Time between checks of the consortium's MSP folders for changes (new CRLs, CAs). */
  readonly mspReloadIntervalMs: number;
};

function invalid(field: string, what: string) {
  return cofferError('SIGNER_E_CONFIG_INVALID', `signer config: ${field} ${what}`, { field });
}

type Json = Readonly<Record<string, unknown>>;

function object(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalid(field, 'must be a JSON object');
  }
  return value as Json;
}

function text(value: unknown, field: string, charsMax = 4096): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > charsMax) {
    throw invalid(field, `must be a non-empty string of at most ${charsMax} characters`);
  }
  return value;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw invalid(field, `must be an integer from ${min} to ${max}`);
  }
  return value;
}

/** A strict majority of `organisations`: what a receipt must show by default. */
export function majorityOf(organisations: number): number {
  return Math.floor(organisations / 2) + 1;
}

function keyStoreOf(value: unknown, at: (file: string) => string): KeyStoreConfig {
  const json = object(value, 'keyStore');
  if (json['kind'] === 'software') {
    return {
      kind: 'software',
      file: at(text(json['file'], 'keyStore.file')),
      passphraseFile: at(text(json['passphraseFile'], 'keyStore.passphraseFile')),
    };
  }
  if (json['kind'] !== 'pkcs11') {
    throw invalid('keyStore.kind', 'must be "pkcs11" (an HSM) or "software" (not an HSM)');
  }
  const hasFile = json['pinFile'] !== undefined;
  const hasEnv = json['pinEnv'] !== undefined;
  if (hasFile === hasEnv) {
    throw invalid('keyStore', 'needs exactly one of pinFile (a file) or pinEnv (a variable name)');
  }
  return {
    kind: 'pkcs11',
    library: at(text(json['library'], 'keyStore.library')),
    tokenLabel: text(json['tokenLabel'], 'keyStore.tokenLabel', 32),
    pin: hasFile
      ? { pinFile: at(text(json['pinFile'], 'keyStore.pinFile')) }
      : { pinEnv: text(json['pinEnv'], 'keyStore.pinEnv', 256) },
    ...(json['sessions'] === undefined
      ? {}
      : { sessions: integer(json['sessions'], 'keyStore.sessions', 1, 64) }),
  };
}

/** Checks a signer config's JSON; relative paths are resolved against `base`. */
export function parseSignerConfig(raw: unknown, base: string): SignerConfig {
  const json = object(raw, '(file)');
  const at = (file: string) => path.resolve(base, file);
  const known = [
    'listen',
    'tls',
    'consortium',
    'authorisedCallers',
    'organisationsMin',
    'receiptAgeMsMax',
    'requestsInFlightMax',
    'connectionsMax',
    'keyStore',
    'auditLog',
    'auditLogBytesMax',
    'mspReloadIntervalMs',
  ];
  const extra = Object.keys(json).find((key) => !known.includes(key));
  if (extra !== undefined)
    throw invalid(extra, `is not a field; the fields are ${known.join(', ')}`);

  const listen = object(json['listen'] ?? {}, 'listen');
  const tls = object(json['tls'], 'tls');
  const consortiumJson = json['consortium'];
  if (
    !Array.isArray(consortiumJson) ||
    consortiumJson.length === 0 ||
    consortiumJson.length > consortiumMspsMax
  ) {
    throw invalid('consortium', `must list 1 to ${consortiumMspsMax} {mspId, mspDir}`);
  }
  const consortium = consortiumJson.map((each: unknown, i) => {
    const member = object(each, `consortium[${i}]`);
    return {
      mspId: text(member['mspId'], `consortium[${i}].mspId`, 256),
      mspDir: at(text(member['mspDir'], `consortium[${i}].mspDir`)),
    };
  });
  const mspIds = new Set(consortium.map((member) => member.mspId));
  if (mspIds.size !== consortium.length) throw invalid('consortium', 'names an MSP ID twice');

  const callersJson = json['authorisedCallers'];
  if (
    !Array.isArray(callersJson) ||
    callersJson.length === 0 ||
    callersJson.length > authorisedCallersMax
  ) {
    throw invalid(
      'authorisedCallers',
      `must list 1 to ${authorisedCallersMax} {mspId, role?, identityId?} (the custody workers)`,
    );
  }
  const authorisedCallers = callersJson.map((each: unknown, i): AuthorisedCaller => {
    const field = `authorisedCallers[${i}]`;
    const caller = object(each, field);
    const mspId = text(caller['mspId'], `${field}.mspId`, 256);
    if (!mspIds.has(mspId)) throw invalid(`${field}.mspId`, `is not an MSP of the consortium`);
    const role = caller['role'];
    if (role !== undefined && !callerRoles.includes(role as CallerRole)) {
      throw invalid(`${field}.role`, `must be one of ${callerRoles.join(', ')}`);
    }
    const identityId = caller['identityId'];
    if (
      identityId !== undefined &&
      (typeof identityId !== 'string' || !/^[0-9a-f]{64}$/.test(identityId))
    ) {
      throw invalid(`${field}.identityId`, 'must be 64 lower-case hex characters');
    }
    return {
      mspId,
      ...(role === undefined ? {} : { role: role as CallerRole }),
      ...(identityId === undefined ? {} : { identityId: identityId }),
    };
  });

  return {
    listen: {
      host:
        listen['host'] === undefined ? listenHostDefault : text(listen['host'], 'listen.host', 256),
      port:
        listen['port'] === undefined
          ? listenPortDefault
          : integer(listen['port'], 'listen.port', 0, 65535),
    },
    tls: {
      certFile: at(text(tls['certFile'], 'tls.certFile')),
      keyFile: at(text(tls['keyFile'], 'tls.keyFile')),
    },
    consortium,
    authorisedCallers,
    organisationsMin:
      json['organisationsMin'] === undefined
        ? majorityOf(consortium.length)
        : integer(json['organisationsMin'], 'organisationsMin', 1, consortium.length),
    receiptAgeMsMax:
      json['receiptAgeMsMax'] === undefined
        ? receiptAgeMsMaxDefault
        : integer(json['receiptAgeMsMax'], 'receiptAgeMsMax', 1000, receiptAgeMsMaxLimit),
    requestsInFlightMax:
      json['requestsInFlightMax'] === undefined
        ? requestsInFlightMaxDefault
        : integer(json['requestsInFlightMax'], 'requestsInFlightMax', 1, requestsInFlightMax),
    connectionsMax:
      json['connectionsMax'] === undefined
        ? connectionsMaxDefault
        : integer(json['connectionsMax'], 'connectionsMax', 1, connectionsMaxLimit),
    keyStore: keyStoreOf(json['keyStore'], at),
    auditLog: at(
      json['auditLog'] === undefined ? 'signer-audit.log' : text(json['auditLog'], 'auditLog'),
    ),
    auditLogBytesMax:
      json['auditLogBytesMax'] === undefined
        ? auditLogBytesMaxDefault
        : integer(
            json['auditLogBytesMax'],
            'auditLogBytesMax',
            auditLogBytesMaxMin,
            auditLogBytesMaxLimit,
          ),
    mspReloadIntervalMs:
      json['mspReloadIntervalMs'] === undefined
        ? mspReloadIntervalMsDefault
        : integer(
            json['mspReloadIntervalMs'],
            'mspReloadIntervalMs',
            mspReloadIntervalMsMin,
            mspReloadIntervalMsMax,
          ),
  };
}

/** Reads and checks a signer config file. */
export async function readSignerConfig(file: string): Promise<SignerConfig> {
  let textContent: string;
  try {
    textContent = await readFile(file, 'utf8');
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'unknown';
    throw cofferError('CLI_E_FILE_UNREADABLE', `signer config ${file} cannot be read (${code})`, {
      file,
    });
  }
  if (Buffer.byteLength(textContent) > configBytesMax) {
    throw invalid('(file)', `is larger than ${configBytesMax} bytes`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(textContent);
  } catch (cause) {
    throw cofferError(
      'SIGNER_E_CONFIG_INVALID',
      `signer config ${file} is not JSON: ${(cause as Error).message}`,
      { file },
    );
  }
  return parseSignerConfig(raw, path.dirname(path.resolve(file)));
}
