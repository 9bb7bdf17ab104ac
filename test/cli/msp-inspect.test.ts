// `coffer msp inspect` is a contract other programs rely on (DESIGN.md): its JSON shape and
// exit codes are checked here against the Fabric corpus, through the real binary.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cases, corpusDir } from '../msp/corpus.js';
import { runCoffer } from './run.js';

type Output = {
  mspId: string;
  setup: 'ok' | 'fail';
  error?: { code: string; reason?: string; message: string };
  identities: {
    cert: string;
    valid: boolean;
    role: string | null;
    error?: { code: string; reason?: string };
  }[];
};

const testAsserted = cases.filter((c) => c.mspVersion !== 'any');

describe.concurrent('coffer msp inspect --json on the Fabric corpus', () => {
  for (const c of testAsserted) {
    it(c.case, async () => {
      const args = [
        'msp',
        'inspect',
        path.join(corpusDir, c.mspDir),
        '--msp-id',
        c.mspId,
        '--msp-version',
        c.mspVersion,
        '--at',
        c.clock,
        '--json',
        ...(c.mode === 'local' ? ['--local'] : []),
        ...c.identities.flatMap((identity) => ['--identity', path.join(corpusDir, identity.cert)]),
      ];
      const run = await runCoffer(args);
      const output = JSON.parse(run.stdout) as Output;
      expect(output.mspId).toBe(c.mspId);
      expect(output.setup).toBe(c.setup);
      if (c.setup === 'fail') {
        expect(output.error?.reason).toBe(c.reason);
        expect(run.code).toBe(1);
        return;
      }
      expect(output.identities.length).toBe(c.identities.length);
      c.identities.forEach((expected, index) => {
        const actual = output.identities[index];
        expect(actual?.cert).toBe(path.join(corpusDir, expected.cert));
        if (expected.valid !== null) expect(actual?.valid, expected.cert).toBe(expected.valid);
        expect(actual?.role, expected.cert).toBe(expected.role);
        if (expected.reason !== undefined) expect(actual?.error?.reason).toBe(expected.reason);
      });
      const allValid = output.identities.every((identity) => identity.valid);
      expect(run.code).toBe(allValid ? 0 : 1);
      expect(run.stderr).toBe('');
    });
  }
});

describe('coffer msp inspect usage and bad input', () => {
  const sample = path.join(corpusDir, 'testdata/sampleconfig-msp');

  it('exit 2 with a usage error for a missing --msp-id, a bad version or a bad --at', async () => {
    for (const args of [
      ['msp', 'inspect', sample],
      ['msp', 'inspect', sample, '--msp-id', 'X', '--msp-version', '2.0'],
      ['msp', 'inspect', sample, '--msp-id', 'X', '--at', 'yesterday'],
      ['msp', 'inspect', '--msp-id', 'X'],
      ['msp', 'inspect', sample, '--msp-id', 'X', '--bogus'],
      ['nonsense'],
    ]) {
      const run = await runCoffer(args);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr, args.join(' ')).toMatch(/CLI_E_USAGE/);
      expect(run.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a missing folder is a setup failure with a stable code, not a stack trace', async () => {
    const run = await runCoffer(['msp', 'inspect', '/nonexistent/msp', '--msp-id', 'X', '--json']);
    expect(run.code).toBe(1);
    const output = JSON.parse(run.stdout) as Output;
    expect(output.setup).toBe('fail');
    expect(output.error?.code).toBe('MSP_E_DIR_NOT_FOUND');
    expect(run.stderr).toBe('');
  });

  it('an unreadable identity file is reported as an invalid identity', async () => {
    const run = await runCoffer([
      'msp',
      'inspect',
      sample,
      '--msp-id',
      'SampleOrg',
      '--json',
      '--identity',
      '/nonexistent.pem',
    ]);
    expect(run.code).toBe(1);
    const output = JSON.parse(run.stdout) as Output;
    expect(output.identities[0]?.error?.code).toBe('CLI_E_FILE_UNREADABLE');
  });

  it('accepts Fabric version names and prints a readable report without --json', async () => {
    const run = await runCoffer([
      'msp',
      'inspect',
      sample,
      '--msp-id',
      'SampleOrg',
      '--msp-version',
      'MSPv1_4_3',
      '--identity',
      path.join(sample, 'signcerts/peer.pem'),
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/setup ok/);
    expect(run.stdout).toMatch(/valid\s+.*peer\.pem/);
  });
});
