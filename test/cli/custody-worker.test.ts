// `coffer custody worker`'s state folder (src/cli/custody-worker.ts): --state-dir is required,
// a corrupt cursor file stops the command with its code before it reads a profile or connects
// anywhere, and so does a folder another running worker holds. The command runs in process (src/), not through bin/coffer.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('refuses a folder another running worker holds (NODE_E_DATA_DIR_LOCKED)', async () => {
    const dir = path.join(work, 'held');
    await mkdir(dir);
    // A live process other than this one owns the folder (vitest's own parent process).
    await writeFile(path.join(dir, 'LOCK'), `${process.ppid}\n`);
    const args = [...required, '--state-dir', dir, '--profile', path.join(work, 'none.json')];
    await expect(workerCommand(args, io)).rejects.toMatchObject({
      code: 'NODE_E_DATA_DIR_LOCKED',
      message: expect.stringContaining('one custody worker per directory') as unknown,
    });
    // A lock whose process is gone is taken over, and given back when the command ends.
    await writeFile(path.join(dir, 'LOCK'), '999999999\n');
    await expect(workerCommand(args, io)).rejects.toMatchObject({
      code: 'CLI_E_FILE_UNREADABLE',
    });
    await expect(readFile(path.join(dir, 'LOCK'), 'utf8')).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
});
