// Fabric's MSP conformance corpus (test/fixtures/fabric-msp-conformance): its cases, typed.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MspVersion } from '../../src/msp/index.js';

export const corpusDir = path.resolve(import.meta.dirname, '../fixtures/fabric-msp-conformance');

export type JsonPrincipal = {
  type: string | number;
  role?: string | number;
  mspId?: string;
  ou?: string;
  certifiersIdentifier?: string | null;
  cert?: string;
  anonymity?: string | number;
  principals?: JsonPrincipal[];
};

export type Case = {
  case: string;
  mspDir: string;
  mspId: string;
  mspVersion: string;
  mode: 'local' | 'verifying';
  clock: string;
  setup: 'ok' | 'fail';
  reason?: string;
  identities: {
    cert: string;
    valid: boolean | null;
    role: string | null;
    revoked?: boolean;
    reason?: string;
    identityId?: string;
    expiresAt?: string;
    ous?: string[];
  }[];
  principals?: { cert: string; principal: JsonPrincipal; satisfied: boolean }[];
  signatures?: { signer: string; message: string; signature: string; valid: boolean }[];
  wellFormed?: { idBytesFile: string; mspId: string; wellFormed: boolean }[];
  tlsRootCerts?: string[];
  tlsIntermediateCerts?: string[];
  codeReadingSameFor?: string[];
};

export const cases = JSON.parse(
  readFileSync(path.join(corpusDir, 'expected.json'), 'utf8'),
) as Case[];

export const versionOf: Record<string, MspVersion> = {
  MSPv1_0: '1.0',
  MSPv1_1: '1.1',
  MSPv1_3: '1.3',
  MSPv1_4_3: '1.4.3',
  MSPv3_0: '3.0',
};
