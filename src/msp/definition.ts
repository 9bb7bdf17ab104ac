// MSP definitions as data (the verifying part a consortium configuration stores), with
// validation that names the failing field path.
import { cofferError } from '../errors/index.js';
import type { MspDefinition, NodeOus, OuIdentifier, PemSource } from './types.js';

/** Bounds on a stored definition: certificates per list and bytes per PEM text. */
export const definitionCertsMax = 1000;
export const definitionPemBytesMax = 64 * 1024;

type Json = Record<string, unknown>;

function invalid(field: string, what: string): never {
  throw cofferError('MSP_E_DEFINITION_INVALID', `MSP definition ${field} ${what}`, { field });
}

function object(value: unknown, field: string): Json {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(field, 'must be an object');
  return value as Json;
}

function pemSource(value: unknown, field: string): PemSource {
  const pem = typeof value === 'string' ? value : object(value, field)['pem'];
  if (typeof pem !== 'string' || !pem.includes('-----BEGIN')) invalid(field, 'must be PEM text');
  if (pem.length > definitionPemBytesMax)
    invalid(field, `is longer than ${definitionPemBytesMax} bytes`);
  return { source: field, pem };
}

function pemList(value: unknown, field: string): PemSource[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) invalid(field, 'must be a list of PEM texts');
  if (value.length > definitionCertsMax)
    invalid(field, `has more than ${definitionCertsMax} entries`);
  return value.map((item, index) => pemSource(item, `${field}[${index}]`));
}

function ouIdentifier(value: unknown, field: string): OuIdentifier {
  const json = object(value, field);
  const name = json['organizationalUnitIdentifier'];
  if (typeof name !== 'string')
    invalid(`${field}.organizationalUnitIdentifier`, 'must be a string');
  const certificate = json['certificate'];
  return certificate === undefined
    ? { organizationalUnitIdentifier: name }
    : {
        organizationalUnitIdentifier: name,
        certificate: pemSource(certificate, `${field}.certificate`),
      };
}

function nodeOus(value: unknown, field: string): NodeOus | undefined {
  if (value === undefined) return undefined;
  const json = object(value, field);
  if (typeof json['enable'] !== 'boolean') invalid(`${field}.enable`, 'must be true or false');
  const out: { -readonly [K in keyof NodeOus]: NodeOus[K] } = { enable: json['enable'] };
  for (const key of [
    'clientOuIdentifier',
    'peerOuIdentifier',
    'adminOuIdentifier',
    'ordererOuIdentifier',
  ] as const) {
    if (json[key] !== undefined) out[key] = ouIdentifier(json[key], `${field}.${key}`);
  }
  return out;
}

/** Validates a JSON MSP definition; PEM entries may be strings or `{source?, pem}` objects. */
export function parseMspDefinition(value: unknown, field = 'msp'): MspDefinition {
  const json = object(value, field);
  const mspId = json['mspId'];
  if (typeof mspId !== 'string' || mspId.length === 0)
    invalid(`${field}.mspId`, 'must be a non-empty string');
  const ous = json['organizationalUnitIdentifiers'];
  if (ous !== undefined && !Array.isArray(ous))
    invalid(`${field}.organizationalUnitIdentifiers`, 'must be a list');
  const parsedNodeOus = nodeOus(json['nodeOus'], `${field}.nodeOus`);
  return {
    mspId,
    rootCerts: pemList(json['rootCerts'], `${field}.rootCerts`),
    intermediateCerts: pemList(json['intermediateCerts'], `${field}.intermediateCerts`),
    admins: pemList(json['admins'], `${field}.admins`),
    revocationList: pemList(json['revocationList'], `${field}.revocationList`),
    organizationalUnitIdentifiers: (ous ?? []).map((item: unknown, index: number) =>
      ouIdentifier(item, `${field}.organizationalUnitIdentifiers[${index}]`),
    ),
    ...(parsedNodeOus === undefined ? {} : { nodeOus: parsedNodeOus }),
    tlsRootCerts: pemList(json['tlsRootCerts'], `${field}.tlsRootCerts`),
    tlsIntermediateCerts: pemList(json['tlsIntermediateCerts'], `${field}.tlsIntermediateCerts`),
  };
}
