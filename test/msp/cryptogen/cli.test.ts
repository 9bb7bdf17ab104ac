import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { cryptoCommand } from '../../../src/cli/crypto.js';
import { main } from '../../../src/cli/main.js';
import { isCofferError } from '../../../src/errors/index.js';
import { collectingIo, listTree, makeTempDir, removeTempDir } from './helpers.js';

const root = resolve(import.meta.dirname, '../../..');
const coffer = join(root, 'bin/coffer');

const config = `
PeerOrgs:
  - Name: Org1
    Domain: org1.example.com
    EnableNodeOUs: true
    Template:
      Count: 1
    Users:
      Count: 1
OrdererOrgs:
  - Name: Orderer
    Domain: example.com
    EnableNodeOUs: true
    Specs:
      - Hostname: orderer
`;

type Run = { readonly status: number; readonly stdout: string; readonly stderr: string };

/** Runs the real `bin/coffer` as a child process. */
function runCoffer(args: readonly string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(coffer, [...args], { cwd: root, encoding: 'utf8' }, (error, stdout, stderr) => {
      const status = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
      done({ status, stdout, stderr });
    });
  });
}

function newestMtimeMs(dir: string): number {
  return readdirSync(dir, { withFileTypes: true }).reduce((newest, entry) => {
    const path = join(dir, entry.name);
    const mtime = entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs;
    return Math.max(newest, mtime);
  }, 0);
}

/** bin/coffer runs dist/; build it when it is missing or older than src/. */
function ensureBuilt(): void {
  const built = join(root, 'dist/cli/crypto.js');
  let builtMs = 0;
  try {
    builtMs = Math.min(statSync(built).mtimeMs, statSync(join(root, 'dist/cli/main.js')).mtimeMs);
  } catch {
    builtMs = 0;
  }
  const sourcesMs = newestMtimeMs(join(root, 'src'));
  if (builtMs >= sourcesMs) return;
  try {
    execFileSync('npm', ['run', 'build'], { cwd: root, stdio: 'pipe' });
  } catch (error) {
    // tsc still emits on type errors (npm run typecheck reports those); fail only if it did not.
    if (statSync(built).mtimeMs < sourcesMs) throw error;
  }
}

describe('bin/coffer crypto (child process)', () => {
  let dir = '';
  beforeAll(async () => {
    ensureBuilt();
    dir = await makeTempDir();
    await writeFile(join(dir, 'crypto-config.yaml'), config);
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });

  it('generates, revokes, and the MSP then rejects the revoked identity', async () => {
    const out = join(dir, 'out');
    const generated = await runCoffer([
      'crypto',
      'generate',
      '--config',
      join(dir, 'crypto-config.yaml'),
      '--output',
      out,
    ]);
    expect(generated.stderr).toBe('');
    expect(generated.status).toBe(0);
    expect(generated.stdout).toContain(`generated 2 organisations`);
    expect(generated.stdout).toContain(
      `${join(out, 'peerOrganizations/org1.example.com')}: 1 peer`,
    );
    expect(await listTree(join(out, 'peerOrganizations/org1.example.com'))).toContain(
      'peers/peer0.org1.example.com/msp/keystore/priv_sk',
    );

    const orgDir = join(out, 'peerOrganizations/org1.example.com');
    const user = join(
      orgDir,
      'users/User1@org1.example.com/msp/signcerts/User1@org1.example.com-cert.pem',
    );
    const admin = join(
      orgDir,
      'users/Admin@org1.example.com/msp/signcerts/Admin@org1.example.com-cert.pem',
    );
    const revoked = await runCoffer([
      'crypto',
      'revoke',
      '--org-dir',
      orgDir,
      '--cert',
      user,
      '--json',
    ]);
    expect(revoked.status).toBe(0);
    const result = JSON.parse(revoked.stdout) as { caName: string; crlNumber: string };
    expect(result).toMatchObject({ caName: 'ca.org1.example.com', crlNumber: '1' });

    // The MSP of this repository (coffer msp inspect, a stable contract) reads the copied CRL.
    const inspected = await runCoffer([
      'msp',
      'inspect',
      join(orgDir, 'msp'),
      '--msp-id',
      'Org1MSP',
      '--identity',
      user,
      '--identity',
      admin,
      '--json',
    ]);
    const report = JSON.parse(inspected.stdout) as {
      setup: string;
      identities: { valid: boolean; role: string | null }[];
    };
    expect(report.setup).toBe('ok');
    expect(report.identities.map((identity) => [identity.valid, identity.role])).toEqual([
      [false, 'client'],
      [true, 'admin'],
    ]);
    expect(inspected.status).toBe(1);
  });

  it('exits 2 on a usage error and 1 on an invalid config', async () => {
    const usage = await runCoffer(['crypto', 'generate']);
    expect(usage.status).toBe(2);
    expect(usage.stderr).toContain('CLI_E_USAGE: crypto generate needs --config FILE');
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'PeerOrgs:\n  - Domain: a.example\n    Template:\n      Count: -1\n');
    const invalid = await runCoffer([
      'crypto',
      'generate',
      '--config',
      bad,
      '--output',
      join(dir, 'x'),
    ]);
    expect(invalid.status).toBe(1);
    expect(invalid.stderr).toContain(
      'CRYPTOGEN_E_CONFIG: PeerOrgs[0].Template.Count must be a non-negative integer',
    );
  });
});

describe('cryptoCommand (called directly)', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await makeTempDir();
    await writeFile(join(dir, 'crypto-config.yaml'), config);
  });
  afterAll(async () => {
    await removeTempDir(dir);
  });

  it('prints usage for --help and returns 0', async () => {
    const { io, out } = collectingIo();
    expect(await cryptoCommand(['--help'], io)).toBe(0);
    expect(out.join('')).toContain('coffer crypto generate --config crypto-config.yaml');
    expect(out.join('')).toContain('coffer crypto revoke --org-dir DIR --cert CERT.pem');
  });

  it('generates with --json and revokes with a human summary', async () => {
    const output = join(dir, 'json');
    const generated = collectingIo();
    const args = ['generate', '--config', join(dir, 'crypto-config.yaml'), '--output', output];
    expect(await cryptoCommand([...args, '--json'], generated.io)).toBe(0);
    const result = JSON.parse(generated.out.join('')) as {
      outputDir: string;
      files: number;
      organizations: { domain: string; nodes: string[]; users: string[] }[];
    };
    expect(result.outputDir).toBe(output);
    expect(result.organizations.map((org) => [org.domain, org.nodes, org.users])).toEqual([
      [
        'org1.example.com',
        ['peer0.org1.example.com'],
        ['User1@org1.example.com', 'Admin@org1.example.com'],
      ],
      ['example.com', ['orderer.example.com'], ['Admin@example.com']],
    ]);

    const orgDir = join(output, 'ordererOrganizations/example.com');
    const cert = join(orgDir, 'orderers/orderer.example.com/tls/server.crt');
    const revoked = collectingIo();
    expect(await cryptoCommand(['revoke', '--org-dir', orgDir, '--cert', cert], revoked.io)).toBe(
      0,
    );
    expect(revoked.out.join('')).toContain('(issued by tlsca.example.com)');
    expect(revoked.out.join('')).toContain('copied to crls/ of 3 MSP folders');
    const again = collectingIo();
    expect(await cryptoCommand(['revoke', '--org-dir', orgDir, '--cert', cert], again.io)).toBe(0);
    expect(again.out.join('')).toContain('was already revoked');
    expect(await readFile(join(orgDir, 'msp/crls/crl-tlsca.example.com.pem'), 'utf8')).toBe(
      await readFile(join(orgDir, 'tlsca/crl.crl'), 'utf8'),
    );
  });

  const usageCases: readonly (readonly [string, readonly string[], string])[] = [
    ['no subcommand', [], 'crypto needs a subcommand'],
    ['an unknown subcommand', ['make'], 'unknown crypto subcommand "make"'],
    ['generate without --config', ['generate'], 'crypto generate needs --config FILE'],
    ['revoke without --cert', ['revoke', '--org-dir', '/tmp'], 'crypto revoke needs --cert'],
    ['an option of the other subcommand', ['revoke', '--config', 'x'], '--config does not apply'],
    ['an unknown option', ['generate', '--bogus'], "Unknown option '--bogus'"],
    ['an extra argument', ['generate', 'more'], 'unexpected argument "more"'],
  ];
  for (const [name, args, message] of usageCases) {
    it(`throws CLI_E_USAGE for ${name}`, async () => {
      let caught: unknown;
      try {
        await cryptoCommand(args, collectingIo().io);
      } catch (error) {
        caught = error;
      }
      expect(isCofferError(caught, 'CLI_E_USAGE')).toBe(true);
      expect((caught as Error).message).toContain(message);
    });
  }

  it('reports an unreadable file through main with exit 1', async () => {
    const { io, err } = collectingIo();
    const status = await main(['crypto', 'generate', '--config', join(dir, 'missing.yaml')], io);
    expect(status).toBe(1);
    expect(err.join('')).toContain('CLI_E_FILE_UNREADABLE: cannot read');
  });
});
