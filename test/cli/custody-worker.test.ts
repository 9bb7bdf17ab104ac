// `coffer custody worker`'s state folder (src/cli/custody-worker.ts): --state-dir is required,
// and a corrupt cursor file stops the command with its code before it reads a profile or
// connects anywhere. The command runs in process (src/), not through bin/coffer.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { workerCommand } from '../../src/cli/custody-worker.js';
import { workerStateFile } from '../../src/custody/worker-state.js';

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-cli-custody-worker-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const io = { stdout: () => undefined, stderr: () => undefined };
const required = [
  '--chain',
  'coffer',
  '--signer-url',
  'https://127.0.0.1:1',
  '--signer-ca',
  'ca.pem',
];

describe('coffer custody worker --state-dir', () => {
  it('is required, and named in the usage text', async () => {
    await expect(workerCommand(required, io)).rejects.toMatchObject({
      code: 'CLI_E_USAGE',
      message: expect.stringContaining('--state-dir is required') as unknown,
    });
    const printed: string[] = [];
    await workerCommand(['--help'], { ...io, stdout: (text) => printed.push(text) });
    expect(printed.join('\n')).toContain('--state-dir DIR keeps the deposit-scan cursor');
  });

  it('stops on a corrupt cursor file with CUSTODY_E_WORKER_STATE_CORRUPT', async () => {
    const dir = path.join(work, 'state');
    await mkdir(dir);
    await writeFile(workerStateFile(dir, 'coffer'), '{"version":1,"chain":"coffer","cur');
    // The profile does not exist: the state file is looked at first.
    const args = [...required, '--state-dir', dir, '--profile', path.join(work, 'none.json')];
    await expect(workerCommand(args, io)).rejects.toMatchObject({
      code: 'CUSTODY_E_WORKER_STATE_CORRUPT',
      message: expect.stringContaining('delete it to rescan coffer deposits') as unknown,
    });
  });
});
