// Sandboxed apps on a real node process (`coffer up`), driven by the CLI the way users drive
// it: build, install (refused for a client, accepted for an admin), call readwrite and
// readonly endpoints, list, and the OpenAPI document listing the installed endpoints.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { coffer, runCoffer } from '../cli/run.js';

const examples = path.resolve(import.meta.dirname, '../../examples');
let dir: string;
let node: ChildProcess | undefined;

type Profile = {
  url: string;
  servername: string;
  caFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  mspDir: string;
};

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-apps-node-'));
  const child = spawn(
    coffer,
    ['up', '--dir', dir, '--port', '0', '--json', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  node = child;
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`node did not start: ${stderr}`));
    }, 60_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node exited with ${String(code)}: ${stderr}`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('"event":"started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  // An admin's profile: the same node and TLS credentials, signed by Org1's Admin.
  const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Profile;
  const adminMsp = profile.mspDir.replace(/User1@/g, 'Admin@');
  await writeFile(path.join(dir, 'admin.json'), JSON.stringify({ ...profile, mspDir: adminMsp }));
  // Org2's admin (same TLS connection): the second member organisation's vote.
  await writeFile(
    path.join(dir, 'admin2.json'),
    JSON.stringify({ ...profile, mspId: 'Org2MSP', mspDir: adminMsp.replace(/org1/g, 'org2') }),
  );
}, 90_000);

afterAll(async () => {
  if (node !== undefined && node.exitCode === null && node.signalCode === null) {
    const exited = new Promise((resolve) => node?.once('exit', resolve));
    node.kill('SIGINT');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

async function getJson(urlPath: string): Promise<unknown> {
  const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Profile;
  const [ca, cert, key] = await Promise.all(
    [profile.caFile, profile.tlsCertFile, profile.tlsKeyFile].map((file) => readFile(file, 'utf8')),
  );
  return new Promise((resolve, reject) => {
    httpsRequest(
      new URL(urlPath, profile.url),
      { ca, cert, key, servername: profile.servername },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        });
      },
    )
      .on('error', reject)
      .end();
  });
}

describe('sandboxed apps on a node', () => {
  it('builds, installs (by governance proposal), calls, lists and documents an app', async () => {
    const bundleFile = path.join(dir, 'shipments.json');
    const client = path.join(dir, 'client.json');
    const admin = path.join(dir, 'admin.json');
    expect(
      (await runCoffer(['app', 'build', path.join(examples, 'shipments'), '--out', bundleFile]))
        .code,
    ).toBe(0);

    // A client may not propose (governance is for member organisations' admins).
    const refused = await runCoffer(['app', 'install', bundleFile, '--profile', client]);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      status: 'Invalid',
      code: 'GOV_E_NOT_ADMIN',
    });
    // coffer up's consortium governs itself (three members): Org1's admin proposes the install,
    // Org2's admin makes the majority.
    const proposed = await runCoffer(['app', 'install', bundleFile, '--profile', admin]);
    expect(proposed.stderr).toBe('');
    const proposal = JSON.parse(proposed.stdout) as { txId: string; governed: boolean };
    expect(proposal).toMatchObject({
      governed: true,
      status: 'Committed',
      result: { state: 'Open' },
    });
    const voted = await runCoffer([
      'gov',
      'vote',
      proposal.txId,
      'yes',
      '--profile',
      path.join(dir, 'admin2.json'),
      '--json',
    ]);
    expect(voted.code, voted.stderr + voted.stdout).toBe(0);
    expect(JSON.parse(voted.stdout)).toMatchObject({ result: { state: 'Accepted' } });

    const issue = JSON.stringify({
      bl: 'BL-0042',
      shipper: 'Acme',
      consignee: 'Globex',
      goods: 'coffee',
      from: 'Busan',
      to: 'Rotterdam',
    });
    const issued = await runCoffer([
      'app',
      'call',
      'shipments',
      'issue',
      '--args',
      issue,
      '--profile',
      client,
    ]);
    expect(issued.stderr).toBe('');
    expect(JSON.parse(issued.stdout)).toMatchObject({
      status: 'Committed',
      result: { status: 'issued' },
    });
    // The admin is not an Org1MSP.client: the endpoint's role policy refuses it.
    const byAdmin = await runCoffer([
      'app',
      'call',
      'shipments',
      'issue',
      '--args',
      issue,
      '--profile',
      admin,
    ]);
    expect(JSON.parse(byAdmin.stdout)).toMatchObject({
      status: 'Invalid',
      code: 'APP_E_FORBIDDEN',
    });

    const read = await runCoffer([
      'app',
      'call',
      'shipments',
      'get',
      '--args',
      '{"bl":"BL-0042"}',
      '--profile',
      client,
    ]);
    expect(read.stderr).toBe('');
    expect(JSON.parse(read.stdout)).toMatchObject({ result: { bl: 'BL-0042', status: 'issued' } });

    const listed = await runCoffer(['app', 'list', '--profile', client]);
    expect(JSON.parse(listed.stdout)).toMatchObject({
      apps: [{ name: 'shipments', version: '1.0.0' }],
    });

    const openapi = (await getJson('/v1/openapi.json')) as { paths: Record<string, unknown> };
    expect(Object.keys(openapi.paths)).toEqual(
      expect.arrayContaining(['/app/shipments/issue', '/app/shipments/get', '/v1/tx']),
    );
    expect(openapi.paths['/app/shipments/issue']).toMatchObject({
      post: { 'x-coffer-auth': { kind: 'role', role: 'Org1MSP.client' } },
    });

    const unknown = await runCoffer(['app', 'call', 'shipments', 'nope', '--profile', client]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/TX_E_UNKNOWN_APP/);
  });
});
