// `coffer ledger verify` through the real binary: on the ledger a real engine run wrote (intact,
// then with one byte flipped), and on the committed vectors of test/fixtures/ledger/.
import { existsSync, readdirSync } from 'node:fs';
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import { identityFromMspFolder } from '../../src/client/signer.js';
import { builtInApps } from '../../src/contracts/index.js';
import { generateCryptoMaterial } from '../../src/msp/cryptogen/index.js';
import { loadMspFolder, type Msp } from '../../src/msp/index.js';
import { startEngine } from '../../src/node/engine.js';
import { runCoffer } from './run.js';

const fixturesRoot = path.resolve(import.meta.dirname, '../fixtures/ledger');
const fixtureNames = existsSync(fixturesRoot)
  ? readdirSync(fixturesRoot, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => entry.name)
      .sort()
  : [];
/** The engine commits rounds of transactions; each round ends with a marker, then a new chunk. */
const rounds = 3;
const transactionsPerRound = 8;

type Verdict =
  | {
      ok: true;
      dir: string;
      chunks: number;
      entries: number;
      signatures: number;
      firstSeqno: number | null;
      lastSeqno: number | null;
      bytes: number;
    }
  | {
      ok: false;
      dir: string;
      file?: string;
      offsetStart?: number;
      offsetEnd?: number;
      reason?: string;
      seqno?: number;
      message?: string;
      error: { code: string; message: string; fix: string };
    };

let work: string;
/** The data folder of the engine run; its ledger is dataDir/ledger. */
let dataDir: string;

async function verify(dir: string) {
  const run = await runCoffer(['ledger', 'verify', dir, '--json']);
  expect(run.stdout, `exit ${run.code}, stderr: ${run.stderr}`).toMatch(/^\{/);
  return { ...run, verdict: JSON.parse(run.stdout) as Verdict };
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-cli-ledger-'));
  await generateCryptoMaterial({
    config:
      'PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: { Count: 1 }\n    Users: { Count: 1 }\n',
    outputDir: path.join(work, 'crypto'),
  });
  const org = path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');
  const orgMsp = await loadMspFolder(path.join(org, 'msp'), { mspId: 'Org1MSP' });
  if (!orgMsp.ok) throw orgMsp.error;
  const consortium = { msps: new Map<string, Msp>([['Org1MSP', orgMsp.msp]]) };
  const user = await identityFromMspFolder(
    path.join(org, 'users', 'User1@org1.example.com', 'msp'),
    'Org1MSP',
  );
  const peer = await loadMspFolder(path.join(org, 'peers', 'peer0.org1.example.com', 'msp'), {
    mspId: 'Org1MSP',
    local: true,
  });
  const signing = peer.ok ? peer.msp.signingIdentity : undefined;
  const certPem = peer.folder?.signing?.signCert.pem;
  if (signing === undefined || certPem === undefined) throw new Error('peer0 has no signer');
  dataDir = path.join(work, 'node');
  const engine = await startEngine({
    dataDir,
    nodeId: 'peer0.org1.example.com',
    consortium: () => consortium,
    apps: builtInApps(),
    rootSigner: { mspId: 'Org1MSP', certPem, sign: (message) => signing.sign(message) },
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 10,
    signatureIntervalMs: 20,
    // Every signature entry ends a chunk (by default only one past 8 MiB does): many chunks.
    chunkBytesAtSignature: 0,
  });
  try {
    // In rounds, each committed and signed before the next: a marker ends a chunk.
    for (let round = 0; round < rounds; round += 1) {
      const txIds: string[] = [];
      for (let i = 0; i < transactionsPerRound; i += 1) {
        const { envelope } = await signEnvelope({
          app: 'kv',
          action: 'put',
          args: { map: 'public:kv.t', key: `k${round}.${i}`, value: `v${i}` },
          identity: user.identity,
          signer: user.signer,
        });
        const submitted = await engine.submit(envelope);
        if (!submitted.ok) throw submitted.error;
        txIds.push(submitted.txId);
      }
      for (const txId of txIds) {
        expect((await engine.waitFor(txId, 5000)).status).toBe('Committed');
      }
      // The marker signs the tree before it, so once it lands it is the only unsigned entry.
      const unsigned = () => engine.position().seqno - engine.position().lastSignedTreeSize;
      for (let i = 0; unsigned() > 1; i += 1) {
        if (i > 500) throw new Error('no signature marker');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  } finally {
    await engine.stop();
  }
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** A copy of the engine's ledger folder with one bit flipped at `offset` of its first chunk. */
async function flippedCopy(name: string, offset: (size: number) => number) {
  const dir = path.join(work, name);
  await cp(path.join(dataDir, 'ledger'), dir, { recursive: true });
  const [first] = (await readdir(dir)).filter((file) => file.endsWith('.chunk')).sort();
  if (first === undefined) throw new Error('no chunk');
  const file = path.join(dir, first);
  const bytes = await readFile(file);
  const at = offset(bytes.byteLength);
  bytes[at] = (bytes[at] ?? 0) ^ 0x10;
  await writeFile(file, bytes);
  return { dir, chunk: first, at };
}

describe('coffer ledger verify: a ledger a real engine wrote', () => {
  it('is intact, given the data folder or the ledger folder (human output)', async () => {
    for (const dir of [dataDir, path.join(dataDir, 'ledger')]) {
      const run = await runCoffer(['ledger', 'verify', dir]);
      expect(run.stderr).toBe('');
      expect(run.code, dir).toBe(0);
      expect(run.stdout).toContain(`ledger ${path.join(dataDir, 'ledger')}: ok: `);
      expect(run.stdout).toMatch(/ok: \d+ chunks, \d+ entries \(seqno 1\.\.\d+, \d+ signatures\)/);
    }
  }, 120_000);

  it('reports its counts in --json', async () => {
    const { code, verdict } = await verify(dataDir);
    expect(code).toBe(0);
    if (!verdict.ok) throw new Error(verdict.error.message);
    expect(verdict.dir).toBe(path.join(dataDir, 'ledger'));
    expect(verdict.chunks).toBeGreaterThanOrEqual(rounds);
    expect(verdict.signatures).toBeGreaterThanOrEqual(rounds);
    expect(verdict.entries).toBe(rounds * transactionsPerRound + verdict.signatures);
    expect(verdict).toMatchObject({ firstSeqno: 1, lastSeqno: verdict.entries });
    expect(verdict.bytes).toBeGreaterThan(0);
  });

  it('names the chunk and a byte range holding a flipped byte', async () => {
    const cases: [string, (size: number) => number][] = [
      ['magic', () => 1],
      ['header', () => 13], // the seqno field of the first record
      ['middle', (size) => Math.floor(size / 2)],
      ['last byte', (size) => size - 1],
    ];
    for (const [name, offset] of cases) {
      const { dir, chunk, at } = await flippedCopy(`flipped-${name.replace(' ', '-')}`, offset);
      const { code, verdict, stderr } = await verify(dir);
      expect(stderr, name).toBe('');
      expect(code, name).toBe(1);
      if (verdict.ok) throw new Error(`${name}: verified`);
      expect(verdict.file, name).toBe(chunk);
      expect(verdict.offsetStart, name).toBeLessThanOrEqual(at);
      expect(verdict.offsetEnd, name).toBeGreaterThan(at);
      expect(verdict.error.code, name).toBe('LEDGER_E_CORRUPT');

      const human = await runCoffer(['ledger', 'verify', dir]);
      expect(human.code, name).toBe(1);
      expect(human.stdout).toContain(
        `${path.join(dir, chunk)} ${verdict.offsetStart ?? '?'}-${verdict.offsetEnd ?? '?'} ${verdict.reason ?? '?'}`,
      );
      expect(human.stdout).toContain('what to do: ');
    }
  }, 180_000);
});

describe.concurrent('coffer ledger verify: the committed vectors (test/fixtures/ledger)', () => {
  it('holds the vectors', () => {
    expect(fixtureNames).toContain('valid');
  });

  it.each(fixtureNames)('%s', async (name) => {
    const dir = path.join(fixturesRoot, name);
    const expected = JSON.parse(await readFile(path.join(dir, 'expected.json'), 'utf8')) as {
      ok: boolean;
      entries?: number;
      signatures?: number;
      lastSeqno?: number;
      file?: string;
      offsetStart?: number;
      offsetEnd?: number;
      reason?: string;
    };
    const { code, verdict, stderr } = await verify(dir);
    expect(stderr).toBe('');
    expect(code).toBe(expected.ok ? 0 : 1);
    if (expected.ok) {
      expect(verdict).toMatchObject({
        ok: true,
        entries: expected.entries,
        signatures: expected.signatures,
        lastSeqno: expected.lastSeqno,
      });
    } else {
      expect(verdict).toMatchObject({
        ok: false,
        file: expected.file,
        offsetStart: expected.offsetStart,
        offsetEnd: expected.offsetEnd,
        reason: expected.reason,
      });
    }
  });

  it('advises nothing to repair for a torn tail', async () => {
    const run = await runCoffer(['ledger', 'verify', path.join(fixturesRoot, 'torn-tail')]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain('torn-tail');
    expect(run.stdout).toContain('what to do: Nothing to repair');
  });
});

describe('coffer ledger verify: folders that cannot be used', () => {
  it('names a missing folder, without a stack trace', async () => {
    const missing = path.join(work, 'no-such-ledger');
    const run = await runCoffer(['ledger', 'verify', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`CLI_E_FILE_UNREADABLE: ${missing} does not exist`);
    expect(run.stderr).not.toMatch(/\n\s+at /);
    const { code, verdict } = await verify(missing);
    expect(code).toBe(1);
    expect(verdict).toMatchObject({ ok: false, error: { code: 'CLI_E_FILE_UNREADABLE' } });
  }, 120_000);

  it('says when a folder holds no chunk at all', async () => {
    const empty = await mkdtemp(path.join(work, 'empty-'));
    const run = await runCoffer(['ledger', 'verify', empty]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('0 chunks');
    expect(run.stdout).toContain("is this a node's ledger folder");
  });

  it('exits 2 on usage errors', async () => {
    for (const args of [
      ['ledger'],
      ['ledger', 'check', dataDir],
      ['ledger', 'verify'],
      ['ledger', 'verify', dataDir, dataDir],
      ['ledger', 'verify', dataDir, '--frob'],
    ]) {
      expect((await runCoffer(args)).code, args.join(' ')).toBe(2);
    }
  }, 120_000);
});
