// Genesis and code identity through the CLI: `coffer network init` writes a checked genesis
// from MSP folders (duplicate MSP IDs merged when identical, refused otherwise), and a node
// whose code id the consortium does not allow takes governance requests only, until an
// accepted proposal allows it; disallowing it again refuses it again.
import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientFromProfile } from '../../src/cli/profile.js';
import type { Client } from '../../src/client/index.js';
import { computeCodeId } from '../../src/node/attestation.js';
import { clientAs, userMspDir } from '../support/clients.js';
import { coffer, runCoffer } from './run.js';

let dir: string;
const fakeCodeId = '0'.repeat(64);
const org = (n: number): string =>
  path.join(dir, 'crypto', 'peerOrganizations', `org${n}.coffer.local`);

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-genesis-'));
  const check = await runCoffer(['up', '--dir', dir, '--check']);
  expect(check.code, check.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('coffer network init', () => {
  it('writes a checked genesis from MSP folders; the same MSP twice is merged, a different one under its ID refused', async () => {
    const out = path.join(dir, 'g1.json');
    const run = await runCoffer([
      'network',
      'init',
      '--msp-dir',
      `${path.join(org(1), 'msp')}=Org1MSP`,
      '--msp-dir',
      `${path.join(org(1), 'msp')}=Org1MSP`,
      '--msp-dir',
      `${path.join(org(2), 'msp')}=Org2MSP`,
      '--node',
      'org1-peer0=Org1MSP',
      '--out',
      out,
      '--json',
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      msps: ['Org1MSP', 'Org2MSP'],
      members: ['Org1MSP', 'Org2MSP'],
      nodes: ['org1-peer0'],
      codes: [await computeCodeId()],
    });
    const genesis = JSON.parse(await readFile(out, 'utf8')) as { msps: Record<string, unknown> };
    // Verifying parts only: no private key anywhere.
    expect(JSON.stringify(genesis)).not.toContain('PRIVATE KEY');
    // A second genesis is not written over the first.
    const again = await runCoffer([
      'network',
      'init',
      '--msp-dir',
      `${path.join(org(1), 'msp')}=Org1MSP`,
      '--out',
      out,
    ]);
    expect(again.code).toBe(2);
    // Org2's folder under Org1's ID: a different definition for the same MSP ID.
    const clash = await runCoffer([
      'network',
      'init',
      '--msp-dir',
      `${path.join(org(1), 'msp')}=Org1MSP`,
      '--msp-dir',
      `${path.join(org(2), 'msp')}=Org1MSP`,
      '--out',
      path.join(dir, 'g2.json'),
    ]);
    expect(clash.code).not.toBe(0);
    expect(clash.stderr).toContain('GOV_E_DUPLICATE_MSP');
  });
});

async function startUp(upDir: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    coffer,
    ['up', '--dir', upDir, '--port', '0', '--json', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stderr.resume();
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error('node did not start'));
    }, 30_000);
    child.once('exit', (code) => {
      reject(new Error(`node exited with ${String(code)}`));
    });
    let listening = '';
    lines.on('line', (line) => {
      const match = /listening on (https:\/\/\S+)/.exec(line);
      if (match?.[1] !== undefined) listening = match[1];
      // The client profile is written once the node listens; then `up` says it started.
      if (line.includes('"event":"started"')) {
        clearTimeout(timer);
        resolve(listening);
      }
    });
  });
  child.removeAllListeners('exit');
  return { child, url };
}

type GovernedNode = {
  readonly user: Client;
  readonly admin: Client;
  readonly stop: () => Promise<void>;
};

/**
 * `coffer up` in DIR/name on a copy of the consortium's crypto, with a genesis from `network
 * init` (every MSP, Org1 the only member, plus `initArgs`); clients as Org1's User1 and Admin.
 */
async function governedNode(name: string, initArgs: readonly string[]): Promise<GovernedNode> {
  const upDir = path.join(dir, name);
  await cp(path.join(dir, 'crypto'), path.join(upDir, 'crypto'), { recursive: true });
  await cp(path.join(dir, 'crypto-config.yaml'), path.join(upDir, 'crypto-config.yaml'));
  const init = await runCoffer([
    'network',
    'init',
    ...[1, 2, 3].flatMap((n) => [
      '--msp-dir',
      `${path.join(upDir, 'crypto', 'peerOrganizations', `org${n}.coffer.local`, 'msp')}=Org${n}MSP`,
    ]),
    '--member',
    'Org1MSP',
    ...initArgs,
    '--out',
    path.join(upDir, 'genesis.json'),
  ]);
  expect(init.code, init.stderr).toBe(0);
  const { child } = await startUp(upDir);
  const profile = path.join(upDir, 'client.json');
  const user = await clientFromProfile(profile);
  const admin = await clientAs(
    profile,
    userMspDir(path.join(upDir, 'crypto'), 1, 'Admin'),
    'Org1MSP',
  );
  return {
    user,
    admin,
    stop: async () => {
      user.close();
      admin.close();
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

describe('code identity', () => {
  it('a node running a code id the consortium does not allow takes governance requests only', async () => {
    // The node was admitted with (and the genesis only allows) another build's code id.
    const { user, admin, stop } = await governedNode('up', [
      '--node',
      'org1-peer0=Org1MSP',
      '--code-id',
      fakeCodeId,
    ]);
    try {
      const status = (await user.nodeStatus()) as {
        attestation: { provider: string; codeId: string };
        admission: { admitted: boolean; reason: string };
      };
      const codeId = await computeCodeId();
      expect(status.attestation).toMatchObject({ provider: 'virtual', codeId });
      expect(status.admission.admitted).toBe(false);
      expect(status.admission.reason).toMatch(/not allowed/);
      await expect(
        user.submit('kv', 'put', { map: 'public:kv.g', key: 'k', value: 'v' }),
      ).rejects.toMatchObject({ code: 'NODE_E_NOT_ADMITTED' });
      // Governance still goes through it: Org1 (the only member) allows this build.
      const allow = await admin.submit(
        'gov',
        'propose',
        { actions: [{ name: 'allow_code', args: { codeId } }] },
        { wait: 'commit' },
      );
      expect(allow.result, JSON.stringify(allow)).toMatchObject({ state: 'Accepted' });
      const put = await user.submit(
        'kv',
        'put',
        { map: 'public:kv.g', key: 'k', value: 'v' },
        { wait: 'commit' },
      );
      expect(put.status).toBe('Committed');
      // Disallowed later: refused again.
      const disallow = await admin.submit(
        'gov',
        'propose',
        { actions: [{ name: 'disallow_code', args: { codeId } }] },
        { wait: 'commit' },
      );
      expect(disallow.result, JSON.stringify(disallow)).toMatchObject({ state: 'Accepted' });
      await expect(
        user.submit('kv', 'put', { map: 'public:kv.g', key: 'k2', value: 'v' }),
      ).rejects.toMatchObject({ code: 'NODE_E_NOT_ADMITTED' });
    } finally {
      await stop();
    }
  }, 90_000);
  it('a node the consortium has not admitted asks to join; an accepted admit_node lets it take part', async () => {
    // A genesis that admits no node.
    const { user, admin, stop } = await governedNode('join', []);
    try {
      await expect(
        user.submit('kv', 'put', { map: 'public:kv.j', key: 'k', value: 'v' }),
      ).rejects.toMatchObject({ code: 'NODE_E_NOT_ADMITTED' });
      // The node sent its join request, signed by its own peer identity.
      type Joins = {
        joins: {
          nodeId: string;
          mspId: string;
          codeId: string;
          provider: string;
          admitted: boolean;
        }[];
      };
      let joins = (await user.query('gov', 'joins')) as Joins;
      for (let i = 0; i < 40 && joins.joins.length === 0; i += 1) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        joins = (await user.query('gov', 'joins')) as Joins;
      }
      const codeId = await computeCodeId();
      expect(joins.joins).toEqual([
        expect.objectContaining({
          nodeId: 'org1-peer0',
          mspId: 'Org1MSP',
          codeId,
          provider: 'virtual',
          admitted: false,
        }),
      ]);
      // A client cannot ask in a node's name.
      await expect(
        user.submit(
          'gov',
          'join',
          { nodeId: 'org1-peer9', codeId, provider: 'virtual' },
          { wait: 'commit' },
        ),
      ).resolves.toMatchObject({ status: 'Invalid', code: 'GOV_E_JOIN_INVALID' });
      const admitted = await admin.submit(
        'gov',
        'propose',
        {
          actions: [
            { name: 'admit_node', args: { nodeId: 'org1-peer0', mspId: 'Org1MSP', codeId } },
          ],
        },
        { wait: 'commit' },
      );
      expect(admitted.result, JSON.stringify(admitted)).toMatchObject({ state: 'Accepted' });
      const put = await user.submit(
        'kv',
        'put',
        { map: 'public:kv.j', key: 'k', value: 'v' },
        { wait: 'commit' },
      );
      expect(put.status).toBe('Committed');
      expect(((await user.query('gov', 'joins')) as Joins).joins[0]?.admitted).toBe(true);
    } finally {
      await stop();
    }
  }, 90_000);
});
