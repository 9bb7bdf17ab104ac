// `coffer up` is the main-job command: on a fresh folder it creates the consortium and checks it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCoffer } from './run.js';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-up-'));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

type Up = {
  healthy: boolean;
  organizations: {
    mspId: string;
    msp: string;
    identities: { name: string; role: string; valid: boolean; signs: boolean }[];
  }[];
};

describe('coffer up', () => {
  it('creates three organisations whose MSPs and identities all verify', async () => {
    const run = await runCoffer(['up', '--dir', dir, '--check', '--json']);
    expect(run.code).toBe(0);
    const output = JSON.parse(run.stdout) as Up;
    expect(output.healthy).toBe(true);
    expect(output.organizations.map((org) => org.mspId)).toEqual(['Org1MSP', 'Org2MSP', 'Org3MSP']);
    for (const org of output.organizations) {
      expect(org.msp).toBe('ok');
      expect(org.identities.map((item) => item.role).sort()).toEqual(['admin', 'client', 'peer']);
    }
  });

  it('is idempotent: a second run reuses the material', async () => {
    const run = await runCoffer(['up', '--dir', dir, '--check']);
    expect(run.code).toBe(0);
    expect(run.stderr).not.toMatch(/created crypto material/);
    expect(run.stdout).toMatch(/All organisations and identities verified/);
  });

  it('refuses a bad --orgs with a usage error', async () => {
    const run = await runCoffer(['up', '--dir', dir, '--check', '--orgs', '0']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/CLI_E_USAGE/);
  });

  it('refuses a bad or missing --webhooks file before starting, naming the field', async () => {
    const file = path.join(dir, 'bad-webhooks.json');
    await writeFile(file, JSON.stringify([{ url: 'ftp://127.0.0.1/x', secretFile: 's' }]));
    const bad = await runCoffer(['up', '--dir', dir, '--port', '0', '--webhooks', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/CLI_E_USAGE/);
    expect(bad.stderr).toContain('webhooks[0].url');
    const missing = await runCoffer([
      'up',
      '--dir',
      dir,
      '--port',
      '0',
      '--webhooks',
      `${file}.no`,
    ]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/CLI_E_FILE_UNREADABLE/);
  });
});
