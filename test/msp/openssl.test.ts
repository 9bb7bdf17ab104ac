// MSP folders made with the OpenSSL command line (test/msp/openssl-msp.sh), as Fabric's docs
// suggest for organisations that use neither cryptogen nor Fabric CA: a P-256 root, an
// intermediate that issues the identities, NodeOUs pinned to the intermediate, a CRL made by
// `openssl ca -gencrl`, keystore keys in PKCS#8 and SEC1.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMspFolder, type Msp, type MspVersion, type Principal } from '../../src/msp/index.js';

const run = promisify(execFile);
const script = path.resolve(import.meta.dirname, 'openssl-msp.sh');
const mspId = 'OsslMSP';

let out = '';

beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'coffer-openssl-msp-'));
  await run('bash', [script, out]);
});

afterAll(async () => {
  if (out !== '') await rm(out, { recursive: true, force: true });
});

function identityPem(name: string): string {
  return readFileSync(path.join(out, 'identities', `${name}.pem`), 'latin1');
}

async function load(folder: string, local: boolean, version?: MspVersion): Promise<Msp> {
  const outcome = await loadMspFolder(path.join(out, folder), {
    mspId,
    local,
    ...(version === undefined ? {} : { version }),
  });
  if (!outcome.ok) throw new Error(`setup failed: ${outcome.error.code}: ${outcome.error.message}`);
  expect(outcome.folder?.warnings).toEqual([]);
  return outcome.msp;
}

type Verdict = { readonly role: string | null } | { readonly code: string };

/** Deserialize then validate, as a peer does with a creator; the first refusal wins. */
function verdictOf(msp: Msp, name: string): Verdict {
  const outcome = msp.deserializeIdentity(mspId, identityPem(name));
  if (!outcome.ok) return { code: outcome.error.code };
  const validation = msp.validate(outcome.identity);
  return validation.valid ? { role: validation.role } : { code: validation.error.code };
}

const expectedVerdicts: Readonly<Record<string, Verdict>> = {
  client: { role: 'client' },
  peer: { role: 'peer' },
  admin: { role: 'admin' },
  revoked: { code: 'MSP_E_IDENTITY_REVOKED' },
  // Issued by a root that is no part of the MSP.
  foreign: { code: 'MSP_E_IDENTITY_NOT_CHAINED' },
  ica: { code: 'MSP_E_IDENTITY_IS_CA' },
  // RSA identity keys are refused even under an ECDSA CA.
  rsa: { code: 'MSP_E_IDENTITY_KEY_UNSUPPORTED' },
  // Fabric checks chains for serverAuth (Go's default): an EKU of clientAuth only fails.
  'clientauth-only': { code: 'MSP_E_IDENTITY_NOT_CHAINED' },
};

const adminPrincipal: Principal = { type: 'ROLE', mspId, role: 'ADMIN' };

describe.each([
  { label: 'local MSP at the default version (3.0)', local: true, version: undefined },
  { label: 'verifying MSP at 3.0', local: false, version: undefined },
  { label: 'local MSP at 1.4.3', local: true, version: '1.4.3' as const },
])('OpenSSL-made MSP: $label', ({ local, version }) => {
  it('sets up with NodeOUs on and the TLS root', async () => {
    const msp = await load('msp', local, version);
    expect(msp.version).toBe(version ?? '3.0');
    expect(msp.nodeOusEnabled).toBe(true);
    expect(msp.tlsRootCerts).toEqual([
      readFileSync(path.join(out, 'msp/tlscacerts/tlsroot.pem'), 'latin1'),
    ]);
    expect(msp.signingIdentity === undefined).toBe(!local);
  });

  it('gives every OpenSSL-made certificate the verdict Fabric gives', async () => {
    const msp = await load('msp', local, version);
    const verdicts = Object.fromEntries(
      Object.keys(expectedVerdicts).map((name) => [name, verdictOf(msp, name)]),
    );
    expect(verdicts).toEqual(expectedVerdicts);
  });

  it('names the CRL that revokes the revoked leaf', async () => {
    const msp = await load('msp', local, version);
    const outcome = msp.deserializeIdentity(mspId, identityPem('revoked'));
    if (!outcome.ok) throw outcome.error;
    const validation = msp.validate(outcome.identity);
    expect(validation.valid ? 'valid' : validation.error.message).toContain('crls/ica-crl.pem');
  });

  it('lets the admin leaf, and only it, satisfy the ROLE ADMIN principal', async () => {
    const msp = await load('msp', local, version);
    const satisfied = Object.fromEntries(
      ['admin', 'client', 'peer', 'revoked'].map((name) => {
        const outcome = msp.deserializeIdentity(mspId, identityPem(name));
        if (!outcome.ok) throw outcome.error;
        return [name, msp.satisfiesPrincipal(outcome.identity, adminPrincipal).satisfied];
      }),
    );
    expect(satisfied).toEqual({ admin: true, client: false, peer: false, revoked: false });
  });
});

describe('OpenSSL-made local MSP: signing', () => {
  const message = new TextEncoder().encode('coffer: signed by an OpenSSL-made identity');

  it.each(['msp', 'msp-sec1'])(
    '%s: the signcert validates and its keystore key signs what msp.verify accepts',
    async (folder) => {
      const msp = await load(folder, true);
      const signer = msp.signingIdentity;
      if (signer === undefined) throw new Error('no signing identity');
      expect(msp.validate(signer.identity)).toEqual({ valid: true, role: 'peer' });

      const signature = signer.sign(message);
      expect(msp.verify(signer.identity, message, signature)).toEqual({ ok: true });

      const flippedMessage = message.slice();
      flippedMessage[7] = (flippedMessage[7] ?? 0) ^ 0x01;
      const refused = msp.verify(signer.identity, flippedMessage, signature);
      expect(refused.ok ? 'accepted' : refused.error.code).toBe('MSP_E_SIGNATURE_INVALID');

      const flippedSignature = signature.slice();
      const last = flippedSignature.length - 1;
      flippedSignature[last] = (flippedSignature[last] ?? 0) ^ 0x01;
      expect(msp.verify(signer.identity, message, flippedSignature).ok).toBe(false);
    },
  );

  it('signs what OpenSSL verifies with the signcert public key', async () => {
    const msp = await load('msp', true);
    const signer = msp.signingIdentity;
    if (signer === undefined) throw new Error('no signing identity');
    const files = {
      message: path.join(out, 'message.bin'),
      signature: path.join(out, 'message.sig'),
      publicKey: path.join(out, 'peer-pub.pem'),
    };
    await writeFile(files.message, message);
    await writeFile(files.signature, signer.sign(message));
    const { stdout: publicKey } = await run('openssl', [
      'x509',
      '-in',
      path.join(out, 'msp/signcerts/peer.pem'),
      '-pubkey',
      '-noout',
    ]);
    await writeFile(files.publicKey, publicKey);
    const { stdout } = await run('openssl', [
      'dgst',
      '-sha256',
      '-verify',
      files.publicKey,
      '-signature',
      files.signature,
      files.message,
    ]);
    expect(stdout.trim()).toBe('Verified OK');
  });

  it('with admincerts/, lists the admin and lets it satisfy ROLE ADMIN', async () => {
    const msp = await load('msp-admincerts', true);
    expect(msp.admins.map((admin) => admin.cert.source)).toEqual(['admincerts/admin.pem']);
    const admin = msp.deserializeIdentity(mspId, identityPem('admin'));
    if (!admin.ok) throw admin.error;
    expect(msp.satisfiesPrincipal(admin.identity, adminPrincipal)).toEqual({ satisfied: true });
  });
});
