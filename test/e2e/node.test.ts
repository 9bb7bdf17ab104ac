// A real node process on loopback, started the way users start it (`coffer up`, `coffer node
// start`), driven through the client SDK: commits, refusals with stable codes, receipts that
// verify offline, kill -9 during load (repeated), a torn ledger tail, and snapshot restarts.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createClient,
  identityFromMspFolder,
  signEnvelope,
  type Client,
} from '../../src/client/index.js';
import { decodeEcdsaSignature, encodeEcdsaSignature, curveOrder } from '../../src/crypto/index.js';
import { parseReceipt, verifyReceipt } from '../../src/ledger/receipt.js';
import { envelopeToJson } from '../../src/ledger/tx.js';
import { revokeCertificate } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder, readMspFolder, type Msp } from '../../src/msp/index.js';
import { mspDefinitionJson } from '../../src/governance/index.js';
import { clientAs, userMspDir } from '../support/clients.js';

const coffer = path.resolve(import.meta.dirname, '../../bin/coffer');
/** kill -9 rounds; the issue asks for at least 20. */
const killRounds = Number(process.env['COFFER_KILL_ROUNDS'] ?? 20);

let dir: string;
let node: ChildProcess | undefined;
let url = '';

type Profile = {
  url: string;
  servername: string;
  caFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  mspId: string;
  mspDir: string;
};

/** Starts `coffer <args>` and resolves once it prints the given JSON event or listening line. */
async function startProcess(args: string[]): Promise<ChildProcess> {
  const child = spawn(coffer, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`node did not start: ${stderr}`));
    }, 30_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${String(code)}: ${stderr}`));
    });
    lines.on('line', (line) => {
      const match = /listening on (https:\/\/\S+)/.exec(line);
      if (match?.[1] !== undefined) url = match[1];
      if (line.includes('"event":"started"') || (args[0] === 'node' && match !== null)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  return child;
}

async function stopProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGINT',
): Promise<number | null> {
  // A process killed by a signal has signalCode set and exitCode null: both mean it is gone.
  if (child === undefined || child.exitCode !== null || child.signalCode !== null)
    return child?.exitCode ?? null;
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  child.kill(signal);
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, 15_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

async function profileClient(): Promise<Client> {
  const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Profile;
  const { identity, signer } = await identityFromMspFolder(profile.mspDir, profile.mspId);
  return createClient({
    url,
    servername: profile.servername,
    ca: await readFile(profile.caFile, 'utf8'),
    tlsCert: await readFile(profile.tlsCertFile, 'utf8'),
    tlsKey: await readFile(profile.tlsKeyFile, 'utf8'),
    identity,
    signer,
  });
}

async function consortium(): Promise<Map<string, Msp>> {
  const msps = new Map<string, Msp>();
  for (const n of [1, 2, 3]) {
    const loaded = await loadMspFolder(
      path.join(dir, 'crypto', 'peerOrganizations', `org${n}.coffer.local`, 'msp'),
      { mspId: `Org${n}MSP` },
    );
    if (!loaded.ok) throw loaded.error;
    msps.set(`Org${n}MSP`, loaded.msp);
  }
  return msps;
}

/** POSTs a raw envelope JSON and returns the error code, if any (for refusal codes). */
async function rawSubmit(body: unknown): Promise<{ code: string | undefined }> {
  const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Profile;
  const target = new URL('/v1/tx', url);
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(JSON.stringify(body));
    const req = httpsRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: target.pathname,
        method: 'POST',
        servername: profile.servername,
        ca: readFileSync(profile.caFile, 'utf8'),
        cert: readFileSync(profile.tlsCertFile, 'utf8'),
        key: readFileSync(profile.tlsKeyFile, 'utf8'),
        headers: { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        res.on('end', () => {
          const parsed = JSON.parse(text) as { error?: { code?: string } };
          resolve({ code: parsed.error?.code });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-e2e-'));
  node = await startProcess(['up', '--dir', dir, '--port', '0', '--json', '--log-level', 'warn']);
}, 60_000);

afterAll(async () => {
  await stopProcess(node);
  await rm(dir, { recursive: true, force: true });
});

describe('a real node started by coffer up', () => {
  it('commits a signed transaction, answers queries and status, and its receipt verifies offline', async () => {
    const client = await profileClient();
    try {
      const put = await client.submit(
        'kv',
        'put',
        { map: 'public:kv.e2e', key: 'hello', value: 'world' },
        { wait: 'commit' },
      );
      expect(put).toMatchObject({ status: 'Committed' });
      expect(await client.query('kv', 'get', { map: 'public:kv.e2e', key: 'hello' })).toMatchObject(
        { value: 'world' },
      );
      // Private maps are encrypted in the ledger and never served raw, to anyone.
      await client.submit(
        'kv',
        'put',
        { map: 'kv.secret', key: 's', value: 'hidden' },
        { wait: 'commit' },
      );
      expect(await client.query('kv', 'get', { map: 'kv.secret', key: 's' })).toMatchObject({
        value: 'hidden',
      });
      await expect(client.state('kv.secret', 's')).rejects.toMatchObject({
        code: 'NODE_E_PRIVATE_MAP',
      });
      expect(await client.state('public:kv.e2e', 'hello')).toBe('world');
      expect(await client.status(put.txId)).toMatchObject({
        status: 'Committed',
        seqno: put.seqno,
      });
      let receipt;
      for (let i = 0; i < 100 && receipt === undefined; i += 1) {
        try {
          receipt = await client.receipt(put.txId);
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      const msps = await consortium();
      const check = verifyReceipt(parseReceipt(receipt), msps);
      expect(check.ok, check.ok ? '' : check.error.message).toBe(true);
      // Any flipped bit in the entry breaks it.
      const json = JSON.parse(JSON.stringify(receipt)) as { entry: string };
      const entry = Buffer.from(json.entry, 'base64');
      entry[entry.length >> 1] = (entry[entry.length >> 1] ?? 0) ^ 0x01;
      expect(verifyReceipt({ ...json, entry: entry.toString('base64') }, msps).ok).toBe(false);
    } finally {
      client.close();
    }
  });

  it('serves its OpenAPI document, listing the API and the installed apps', async () => {
    const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Profile;
    const target = new URL('/v1/openapi.json', url);
    const doc = await new Promise<Record<string, unknown>>((resolve, reject) => {
      const req = httpsRequest(
        {
          hostname: target.hostname,
          port: target.port,
          path: target.pathname,
          servername: profile.servername,
          ca: readFileSync(profile.caFile, 'utf8'),
          cert: readFileSync(profile.tlsCertFile, 'utf8'),
          key: readFileSync(profile.tlsKeyFile, 'utf8'),
        },
        (res) => {
          let text = '';
          res.on('data', (chunk: Buffer) => {
            text += chunk.toString();
          });
          res.on('end', () => {
            resolve(JSON.parse(text) as Record<string, unknown>);
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    expect(doc['openapi']).toBe('3.1.0');
    const paths = Object.keys(doc['paths'] as Record<string, unknown>);
    for (const p of [
      '/v1/tx',
      '/v1/tx/batch',
      '/v1/tx/{txId}',
      '/v1/tx/{txId}/receipt',
      '/v1/query',
      '/v1/ledger/position',
    ]) {
      expect(paths).toContain(p);
    }
  });

  it('refuses bad signatures, high-S, unknown identities and replays with stable codes', async () => {
    const client = await profileClient();
    try {
      const { envelope } = await client.sign('kv', 'put', { map: 'kv.e2e', key: 'k', value: 'v' });
      const json = envelopeToJson(envelope);
      const flipped = {
        ...json,
        signature: Buffer.from(envelope.signature.map((b, i) => (i === 8 ? b ^ 1 : b))).toString(
          'base64',
        ),
      };
      expect((await rawSubmit(flipped)).code).toBe('MSP_E_SIGNATURE_INVALID');
      const order = curveOrder('P-256') ?? 0n;
      const low = decodeEcdsaSignature(envelope.signature);
      const highS = {
        ...json,
        signature: Buffer.from(encodeEcdsaSignature({ r: low.r, s: order - low.s })).toString(
          'base64',
        ),
      };
      expect((await rawSubmit(highS)).code).toBe('MSP_E_SIGNATURE_HIGH_S');
      expect((await rawSubmit(json)).code).toBeUndefined();
      expect((await rawSubmit(json)).code).toBe('TX_E_REPLAY');
      // An identity from another consortium's CA, claiming Org1MSP.
      const strangerDir = await mkdtemp(path.join(tmpdir(), 'coffer-stranger-'));
      try {
        const { generateCryptoMaterial } = await import('../../src/msp/cryptogen/index.js');
        await generateCryptoMaterial({
          config:
            'PeerOrgs:\n  - Name: X\n    Domain: org1.coffer.local\n    EnableNodeOUs: true\n',
          outputDir: strangerDir,
        });
        const stranger = await identityFromMspFolder(
          path.join(
            strangerDir,
            'peerOrganizations',
            'org1.coffer.local',
            'users',
            'Admin@org1.coffer.local',
            'msp',
          ),
          'Org1MSP',
        );
        const forged = await signEnvelope({
          app: 'kv',
          action: 'put',
          args: { map: 'kv.e2e', key: 'k', value: 'v' },
          identity: stranger.identity,
          signer: stranger.signer,
        });
        expect((await rawSubmit(envelopeToJson(forged.envelope))).code).toBe(
          'MSP_E_IDENTITY_NOT_CHAINED',
        );
        const unknownMsp = await signEnvelope({
          app: 'kv',
          action: 'put',
          args: { map: 'kv.e2e', key: 'k', value: 'v' },
          identity: { ...stranger.identity, mspId: 'NoSuchMSP' },
          signer: stranger.signer,
        });
        expect((await rawSubmit(envelopeToJson(unknownMsp.envelope))).code).toBe(
          'TX_E_UNKNOWN_MSP',
        );
      } finally {
        await rm(strangerDir, { recursive: true, force: true });
      }
    } finally {
      client.close();
    }
  });
});

describe('durability of a real node process', () => {
  const nodeConfig = () => path.join(dir, 'node.json');

  async function restart(signal: NodeJS.Signals): Promise<void> {
    await stopProcess(node, signal);
    node = await startProcess(['node', 'start', '--config', nodeConfig(), '--log-level', 'warn']);
    // coffer node start listens on the configured port (0 = a new one); the profile follows.
    const profileFile = path.join(dir, 'client.json');
    const profile = JSON.parse(await readFile(profileFile, 'utf8')) as Profile;
    await writeFile(profileFile, JSON.stringify({ ...profile, url }));
  }

  it(`kill -9 during load loses no acknowledged transaction (${killRounds} rounds)`, async () => {
    const acknowledged = new Map<string, { seqno: number; key: string }>();
    for (let round = 0; round < killRounds; round += 1) {
      const client = await profileClient();
      const writers = Array.from({ length: 8 }, async (_, worker) => {
        for (let i = 0; ; i += 1) {
          const key = `r${round}-w${worker}-${i}`;
          try {
            const result = await client.submit(
              'kv',
              'put',
              { map: 'public:kv.kill', key, value: key },
              { wait: 'commit' },
            );
            if (result.status === 'Committed' && result.seqno !== undefined)
              acknowledged.set(result.txId, { seqno: result.seqno, key });
          } catch {
            return; // the node is gone
          }
        }
      });
      await new Promise((resolve) => setTimeout(resolve, 200 + Math.floor(Math.random() * 400)));
      if (process.env['COFFER_DEBUG'] !== undefined)
        console.error(`round ${round}: killing, ${acknowledged.size} acknowledged`);
      await stopProcess(node, 'SIGKILL');
      await Promise.all(writers);
      if (process.env['COFFER_DEBUG'] !== undefined) console.error(`round ${round}: writers done`);
      client.close();
      await restart('SIGKILL');
      if (process.env['COFFER_DEBUG'] !== undefined)
        console.error(`round ${round}: restarted at ${url}`);
    }
    expect(acknowledged.size).toBeGreaterThan(killRounds);
    const client = await profileClient();
    try {
      for (const [txId, { seqno, key }] of acknowledged) {
        const status = await client.status(txId);
        expect(status, `tx ${txId} (${key})`).toMatchObject({ status: 'Committed', seqno });
        expect(await client.state('public:kv.kill', key)).toBe(key);
      }
    } finally {
      client.close();
    }
  }, 300_000);

  it('recovers from a torn last ledger file and from a snapshot, with the same root', async () => {
    let client = await profileClient();
    for (let i = 0; i < 30; i += 1) {
      await client.submit(
        'kv',
        'put',
        { map: 'public:kv.torn', key: `k${i}`, value: `v${i}` },
        { wait: 'commit' },
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 300)); // a time-based signature marker
    const before = await client.position();
    client.close();
    await stopProcess(node, 'SIGKILL');
    // Tear the last ledger chunk: cut its last 7 bytes.
    const ledgerDir = path.join(dir, 'nodes', 'org1-peer0', 'ledger');
    const chunks = (await readdir(ledgerDir)).filter((name) => name.endsWith('.chunk')).sort();
    const last = path.join(ledgerDir, chunks[chunks.length - 1] ?? '');
    await truncate(last, Math.max(0, (await stat(last)).size - 7));
    // And snapshot often from now on.
    const config = JSON.parse(await readFile(nodeConfig(), 'utf8')) as Record<string, unknown>;
    await writeFile(nodeConfig(), JSON.stringify({ ...config, snapshotIntervalTx: 10 }));
    await restart('SIGKILL');
    client = await profileClient();
    try {
      const after = await client.position();
      expect(after['seqno']).toBe(before['seqno']);
      expect(after['root']).toBe(before['root']);
      for (let i = 0; i < 30; i += 1)
        expect(await client.state('public:kv.torn', `k${i}`)).toBe(`v${i}`);
      for (let i = 0; i < 25; i += 1) {
        await client.submit(
          'kv',
          'put',
          { map: 'public:kv.snap', key: `k${i}`, value: `v${i}` },
          { wait: 'commit' },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      const snapshots = await readdir(path.join(dir, 'nodes', 'org1-peer0', 'snapshots'));
      expect(snapshots.some((name) => name.endsWith('.snap'))).toBe(true);
      const beforeSnapRestart = await client.position();
      client.close();
      await restart('SIGINT');
      client = await profileClient();
      const afterSnap = await client.position();
      expect(afterSnap['root']).toBe(beforeSnapRestart['root']);
      expect(await client.state('public:kv.snap', 'k24')).toBe('v24');
    } finally {
      client.close();
    }
  }, 120_000);

  it('refuses a revoked identity with its code once the consortium accepts the new CRL (governance)', async () => {
    const peerOrgs = path.join(dir, 'crypto', 'peerOrganizations');
    const org2 = path.join(peerOrgs, 'org2.coffer.local');
    // Revoke Org2's User1 in Org2's MSP folder. The node does not read folders: the consortium's
    // MSPs live in the ledger, and change by an accepted proposal.
    const revokedMsp = path.join(org2, 'users', 'User1@org2.coffer.local', 'msp');
    const revoked = await identityFromMspFolder(revokedMsp, 'Org2MSP');
    await revokeCertificate({ orgDir: org2, certPem: revoked.identity.certPem });
    const as = (org: number, user: string) =>
      clientAs(
        path.join(dir, 'client.json'),
        userMspDir(path.join(dir, 'crypto'), org, user),
        `Org${org}MSP`,
        url,
      );
    const user = await as(2, 'User1');
    const org1Admin = await as(1, 'Admin');
    const org2Admin = await as(2, 'Admin');
    try {
      // Before: the identity is valid.
      const before = await user.submit(
        'kv',
        'put',
        { map: 'kv.e2e', key: 'r', value: 'v' },
        { wait: 'commit' },
      );
      expect(before.status).toBe('Committed');
      const folder = await readMspFolder(path.join(org2, 'msp'), 'Org2MSP', false);
      const proposed = await org1Admin.submit(
        'gov',
        'propose',
        {
          actions: [
            {
              name: 'set_msp',
              args: { mspId: 'Org2MSP', definition: mspDefinitionJson(folder.definition) },
            },
          ],
        },
        { wait: 'commit' },
      );
      expect(proposed.status, JSON.stringify(proposed)).toBe('Committed');
      expect(proposed.result).toMatchObject({ state: 'Open' });
      // Org1 proposed (its yes); Org2's admin makes a majority of three members.
      const voted = await org2Admin.submit(
        'gov',
        'vote',
        { proposalId: proposed.txId, ballot: 'yes' },
        { wait: 'commit' },
      );
      expect(voted.result).toMatchObject({ state: 'Accepted' });
      await expect(
        user.submit('kv', 'put', { map: 'kv.e2e', key: 'r', value: 'w' }),
      ).rejects.toMatchObject({ code: 'MSP_E_IDENTITY_REVOKED' });
    } finally {
      user.close();
      org1Admin.close();
      org2Admin.close();
    }
  }, 60_000);
});
