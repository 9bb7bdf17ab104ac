// Every case of Fabric's MSP conformance corpus (test/fixtures/fabric-msp-conformance, a copy of
// ../shared/fabric-msp-conformance) on every field it asserts. Cases with mspVersion "any" run
// under every version. Expectations Fabric only implies by code reading (`codeReadingSameFor`)
// run in a separate block, reported apart as the corpus asks.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cases, corpusDir, versionOf, type Case, type JsonPrincipal } from './corpus.js';
import {
  fabricReasonOf,
  loadMspFolder,
  mspVersions,
  type Identity,
  type Msp,
  type MspVersion,
  type Principal,
} from '../../src/msp/index.js';

function file(relative: string): string {
  return readFileSync(path.join(corpusDir, relative), 'latin1');
}

function toPrincipal(json: JsonPrincipal): Principal {
  switch (json.type) {
    case 'ROLE':
      return { type: 'ROLE', mspId: json.mspId ?? '', role: json.role as 'MEMBER' };
    case 'ORGANIZATION_UNIT':
      return {
        type: 'ORGANIZATION_UNIT',
        mspId: json.mspId ?? '',
        ou: json.ou ?? '',
        certifiersIdentifier: json.certifiersIdentifier ?? null,
      };
    case 'IDENTITY':
      return { type: 'IDENTITY', mspId: json.mspId ?? '', certPem: file(json.cert ?? '') };
    case 'ANONYMITY':
      return { type: 'ANONYMITY', anonymity: json.anonymity as 'NOMINAL' };
    case 'COMBINED':
      return { type: 'COMBINED', principals: (json.principals ?? []).map(toPrincipal) };
    default:
      return { type: json.type as number };
  }
}

function identityOf(msp: Msp, mspId: string, cert: string): Identity | undefined {
  const outcome = msp.deserializeIdentity(mspId, file(cert));
  return outcome.ok ? outcome.identity : undefined;
}

async function runCase(c: Case, version: MspVersion): Promise<void> {
  const outcome = await loadMspFolder(path.join(corpusDir, c.mspDir), {
    mspId: c.mspId,
    version,
    local: c.mode === 'local',
    now: new Date(c.clock),
  });
  if (c.setup === 'fail') {
    expect(outcome.ok, 'setup should fail').toBe(false);
    if (!outcome.ok && c.reason !== undefined) {
      expect({
        reason: fabricReasonOf(outcome.error),
        message: outcome.error.message,
      }).toMatchObject({
        reason: c.reason,
      });
    }
    return;
  }
  if (!outcome.ok) throw new Error(`setup failed: ${outcome.error.code}: ${outcome.error.message}`);
  const msp = outcome.msp;

  for (const expected of c.identities) {
    const deserialized = msp.deserializeIdentity(c.mspId, file(expected.cert));
    const label = `identity ${expected.cert}`;
    if (!deserialized.ok) {
      expect(expected.valid, `${label}: not deserializable (${deserialized.error.message})`).toBe(
        false,
      );
      if (expected.reason !== undefined) {
        expect(fabricReasonOf(deserialized.error), label).toBe(expected.reason);
      }
      expect(expected.role, label).toBeNull();
      continue;
    }
    const identity = deserialized.identity;
    const validation = msp.validate(identity);
    if (expected.valid !== null) {
      expect(
        validation.valid,
        `${label}: ${validation.valid ? '' : validation.error.message}`,
      ).toBe(expected.valid);
    }
    expect(validation.role, `${label} role`).toBe(expected.role);
    if (!validation.valid && expected.reason !== undefined) {
      expect(fabricReasonOf(validation.error), label).toBe(expected.reason);
    }
    if (expected.revoked !== undefined) {
      const revoked = !validation.valid && validation.error.code === 'MSP_E_IDENTITY_REVOKED';
      expect(revoked, `${label} revoked`).toBe(expected.revoked);
    }
    if (expected.identityId !== undefined)
      expect(identity.id, `${label} id`).toBe(expected.identityId);
    if (expected.expiresAt !== undefined) {
      expect(identity.expiresAt.toISOString().replace('.000', ''), label).toBe(expected.expiresAt);
    }
    if (expected.ous !== undefined) {
      expect(
        msp.organizationalUnits(identity).map((ou) => ou.name),
        label,
      ).toEqual(expected.ous);
    }
  }

  for (const expected of c.principals ?? []) {
    const identity = identityOf(msp, c.mspId, expected.cert);
    const check =
      identity === undefined
        ? { satisfied: false }
        : msp.satisfiesPrincipal(identity, toPrincipal(expected.principal));
    expect(
      check.satisfied,
      `principal ${JSON.stringify(expected.principal)} for ${expected.cert}`,
    ).toBe(expected.satisfied);
  }

  for (const expected of c.signatures ?? []) {
    const identity = identityOf(msp, c.mspId, expected.signer);
    expect(identity, `signer ${expected.signer}`).toBeDefined();
    if (identity === undefined) continue;
    const check = msp.verify(
      identity,
      Buffer.from(expected.message, 'hex'),
      Buffer.from(expected.signature, 'hex'),
    );
    expect(check.ok, `signature ${expected.signature.slice(0, 16)} over ${expected.message}`).toBe(
      expected.valid,
    );
  }

  for (const expected of c.wellFormed ?? []) {
    const check = msp.isWellFormed(expected.mspId, file(expected.idBytesFile));
    expect(check.ok, `wellFormed ${expected.idBytesFile}`).toBe(expected.wellFormed);
  }

  if (c.tlsRootCerts !== undefined) {
    expect(msp.tlsRootCerts).toEqual(c.tlsRootCerts.map(file));
  }
  if (c.tlsIntermediateCerts !== undefined) {
    expect(msp.tlsIntermediateCerts).toEqual(c.tlsIntermediateCerts.map(file));
  }
}

describe('Fabric MSP conformance corpus (test-asserted versions)', () => {
  it('has the 55 cases of the corpus', () => {
    expect(cases.length).toBe(55);
  });
  for (const c of cases) {
    const versions = c.mspVersion === 'any' ? mspVersions : [versionOf[c.mspVersion]];
    for (const version of versions) {
      if (version === undefined) throw new Error(`unknown version ${c.mspVersion} in ${c.case}`);
      it(`${c.case} @ MSP ${version}`, async () => {
        await runCase(c, version);
      });
    }
  }
});

describe('Fabric MSP conformance corpus (versions implied by code reading only)', () => {
  for (const c of cases) {
    for (const name of c.codeReadingSameFor ?? []) {
      const version = versionOf[name];
      if (version === undefined) throw new Error(`unknown version ${name} in ${c.case}`);
      it(`${c.case} @ MSP ${version} (code reading)`, async () => {
        await runCase(c, version);
      });
    }
  }
});
