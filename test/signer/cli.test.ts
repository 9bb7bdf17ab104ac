// `coffer signer keygen|keys|start` as real processes: a platform key made on a SoftHSM2 token
// through the command (sensitive, never extractable), then the signer started by the command on
// 127.0.0.1 signs the approved digests of a withdrawal over mutual TLS, refuses them reordered,
// and stops cleanly on SIGTERM. The software key store says it is not an HSM.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDigestSignature } from '../../src/crypto/index.js';
import { coffer, runCoffer } from '../cli/run.js';
import { createSoftHsm, userPin, type SoftHsm } from '../crypto/softhsm.js';
import {
  digestsOf,
  generateMaterial,
  mspIdOf,
  orgDir,
  post,
  receiptFor,
  userTls,
  withdrawal,
  withdrawalEntry,
  type Material,
} from './support.js';

let work: string;
let hsm: SoftHsm;
let material: Material;
let peerTls: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-signer-cli-'));
  hsm = await createSoftHsm(['cli-token']);
  material = await generateMaterial(work);
  peerTls = path.join(orgDir(material.crypto, 'org1'), 'peers', 'peer0.org1.example.com', 'tls');
  await writeFile(path.join(work, 'pin'), `${userPin}\n`, { mode: 0o600 });
  await writeFile(path.join(work, 'passphrase'), 'a software store passphrase\n', { mode: 0o600 });
});

afterAll(async () => {
  await hsm.cleanup();
  await rm(work, { recursive: true, force: true });
});

async function writeConfig(name: string, keyStore: object): Promise<string> {
  const file = path.join(work, name);
  await writeFile(
    file,
    JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      tls: {
        certFile: path.join(peerTls, 'server.crt'),
        keyFile: path.join(peerTls, 'server.key'),
      },
      consortium: ['org1', 'org2', 'org3'].map((org) => ({
        mspId: mspIdOf(org),
        mspDir: path.join(orgDir(material.crypto, org), 'msp'),
      })),
      authorisedCallers: [{ mspId: 'Org1MSP', role: 'client' }],
      keyStore,
      auditLog: `${name}.audit.log`,
    }),
  );
  return file;
}

describe('coffer signer', () => {
  it('keygen on a PKCS#11 token, keys, then start: signs what is approved, refuses the rest', async () => {
    const config = await writeConfig('pkcs11.json', {
      kind: 'pkcs11',
      library: hsm.library,
      tokenLabel: 'cli-token',
      pinFile: 'pin',
    });
    const made = await runCoffer([
      'signer',
      'keygen',
      '--config',
      config,
      '--label',
      'hot-eth-1',
      '--json',
    ]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    const key = JSON.parse(made.stdout) as {
      keyId: string;
      publicKey: string;
      curve: 'secp256k1';
      keyStore: string;
      attributes: Record<string, boolean>;
    };
    expect(key.curve).toBe('secp256k1');
    expect(key.keyStore).toContain('PKCS#11');
    expect(key.attributes).toMatchObject({
      sensitive: true,
      extractable: false,
      neverExtractable: true,
    });

    const listed = await runCoffer(['signer', 'keys', '--config', config]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(key.keyId);
    expect(listed.stdout).toContain('usable');

    const child = spawn(coffer, ['signer', 'start', '--config', config], { stdio: 'pipe' });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`the signer did not start: ${stdout}`));
        }, 20_000);
        child.stdout.on('data', () => {
          const match = /listening on (https:\/\/[^ ]+)/.exec(stdout);
          if (match?.[1] !== undefined) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
      });
      expect(stdout).toContain('PKCS#11');
      // Two inputs: one signature each, from the one approval.
      const digests = digestsOf('w-cli', 2);
      const record = withdrawal({
        platformKey: { keyId: key.keyId, publicKey: key.publicKey, curve: key.curve },
        digests,
      });
      const peers = [material.peers['org1'], material.peers['org3']].flatMap((peer) =>
        peer === undefined ? [] : [peer],
      );
      const receipt = receiptFor(withdrawalEntry(3, record), peers);
      const tls = {
        ca: await readFile(path.join(peerTls, 'ca.crt'), 'utf8'),
        servername: 'peer0.org1.example.com',
        client: await userTls(material.crypto, 'org1', 'User2'),
      };
      const body = {
        walletId: record.walletId,
        withdrawalId: record.id,
        digests,
        keyId: key.keyId,
        receipt,
      };
      const signed = await post(url, '/v1/sign', body, tls);
      expect(signed.status, JSON.stringify(signed.body)).toBe(200);
      const signatures = signed.body['signatures'] as string[];
      expect(signatures).toHaveLength(2);
      for (const [i, digest] of digests.entries()) {
        expect(
          verifyDigestSignature(
            'secp256k1',
            key.publicKey,
            Buffer.from(digest, 'hex'),
            Buffer.from(signatures[i] ?? '', 'hex'),
          ),
        ).toBe(true);
      }
      const refused = await post(
        url,
        '/v1/sign',
        { ...body, digests: [...digests].reverse() },
        tls,
      );
      expect(refused.status).toBe(403);
      expect((refused.body['error'] as { code: string }).code).toBe('SIGNER_E_DIGEST_NOT_APPROVED');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stdout).toContain('signer stopped');
    const audit = await readFile(path.join(work, 'pkcs11.json.audit.log'), 'utf8');
    expect(audit.split('\n').filter((line) => line.includes('"event":"signed"'))).toHaveLength(1);
    expect(audit).toContain('SIGNER_E_DIGEST_NOT_APPROVED');
  });

  it('keygen with the software key store says it is not an HSM', async () => {
    const config = await writeConfig('software.json', {
      kind: 'software',
      file: 'soft-keys.json',
      passphraseFile: 'passphrase',
    });
    const made = await runCoffer([
      'signer',
      'keygen',
      '--config',
      config,
      '--label',
      'dev',
      '--curve',
      'P-256',
    ]);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('software key store (not an HSM)');
    expect(made.stdout).toMatch(/public key: 04[0-9a-f]{128}/);
    const listed = await runCoffer(['signer', 'keys', '--config', config, '--json']);
    expect(listed.code).toBe(0);
    const json = JSON.parse(listed.stdout) as { keyStore: string; keys: { usable: boolean }[] };
    expect(json.keyStore).toContain('not an HSM');
    expect(json.keys).toEqual([expect.objectContaining({ usable: true, curve: 'P-256' })]);
  });

  it('names the configuration mistake', async () => {
    const file = path.join(work, 'bad.json');
    await writeFile(file, JSON.stringify({ tls: {}, consortium: [] }));
    const bad = await runCoffer(['signer', 'keys', '--config', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('SIGNER_E_CONFIG_INVALID');
    expect(bad.stderr).toContain('consortium');
    const usage = await runCoffer(['signer', 'keygen', '--config', file]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('--label is required');
  });
});
