// `coffer receipt verify` and `show` through the real binary: on receipts of a real engine run,
// checked with nothing but the organisation's verifying MSP folder (valid, tampered, revoked,
// rewritten as format 2), and on the committed vectors of test/fixtures/receipts/ (format 1) and
// receipts/v2/ (several signatures, with --min-signatures / --min-orgs) written out as MSP folders.
import { readdirSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { signEnvelope } from '../../src/client/envelope.js';
import { identityFromMspFolder } from '../../src/client/signer.js';
import { builtInApps } from '../../src/contracts/index.js';
import { signedRootsOf, type Receipt, type SignedRoot } from '../../src/ledger/receipt.js';
import { generateCryptoMaterial, revokeCertificate } from '../../src/msp/cryptogen/index.js';
import {
  loadMspFolder,
  parseMspDefinition,
  type Msp,
  type MspDefinition,
} from '../../src/msp/index.js';
import { startEngine } from '../../src/node/engine.js';
import { runCoffer } from './run.js';

const fixturesDir = path.resolve(import.meta.dirname, '../fixtures/receipts');
const fixturesDirV2 = path.join(fixturesDir, 'v2');
const namesIn = (dir: string): string[] =>
  readdirSync(dir)
    .filter((name) => name.endsWith('.json') && name !== 'msps.json')
    .sort();
const vectorNames = namesIn(fixturesDir);
const vectorNamesV2 = namesIn(fixturesDirV2);
/** Tests that run the binary several times: each run loads the MSP code (~0.5 s of CPU). */
const severalRunsMs = 120_000;

type Verdict = {
  valid: boolean;
  txId: string | null;
  seqno: number | null;
  treeSize?: number;
  root?: string;
  signedAt?: string;
  signer: { nodeId: string; mspId: string; identityId: string; role: string | null } | null;
  signers:
    | {
        nodeId: string;
        mspId: string;
        identityId: string;
        role: string | null;
        signedAt: string;
      }[]
    | null;
  txIdChecked?: boolean;
  error?: { code: string; message: string; fix: string; mspCode?: string };
};

type Vector = {
  description: string;
  expect: string;
  options?: { signaturesMin?: number; organisationsMin?: number };
  receipt: unknown;
};

let work: string;
/** peerOrganizations/org1.example.com of the generated network. */
let orgDir: string;
/** Receipts of the engine run, by file, with the txIds committed. */
let receiptFile: string;
let receipt: Receipt;
/** The engine's signed root of the receipt (its first, whatever the receipt format). */
let signed: SignedRoot;
let otherTxId: string;
/** `--msp-dir` arguments for the format 1 fixture MSPs (Org1MSP, Org2MSP). */
let fixtureMspDirs: string[];
/** `--msp-dir` arguments for the format 2 fixture MSPs (Org1MSP, Org2MSP, Org3MSP). */
let fixtureMspDirsV2: string[];

/** The receipt with its (first) signed root changed, in the receipt's own format. */
function withSignedRoot(patch: Partial<SignedRoot>): unknown {
  const changed = { ...signed, ...patch };
  return receipt.version === 1
    ? { ...receipt, signedRoot: changed }
    : { ...receipt, signedRoots: [changed, ...receipt.signedRoots.slice(1)] };
}

/** Flags of a vector's verifier options. */
function optionFlags(vector: Vector): string[] {
  const { signaturesMin, organisationsMin } = vector.options ?? {};
  return [
    ...(signaturesMin === undefined ? [] : ['--min-signatures', String(signaturesMin)]),
    ...(organisationsMin === undefined ? [] : ['--min-orgs', String(organisationsMin)]),
  ];
}

/** Writes an MSP definition out as a Fabric verifying MSP folder (cacerts/, crls/, config.yaml). */
async function writeMspFolder(definition: MspDefinition, dir: string): Promise<void> {
  const written = new Map<string, string>();
  const put = async (sub: string, index: number, source: { source: string; pem: string }) => {
    // Definitions read from a folder keep each file's path in `source`: reuse it.
    const relative = source.source.startsWith(`${sub}/`) ? source.source : `${sub}/${index}.pem`;
    if (written.get(relative) === undefined) {
      await mkdir(path.join(dir, sub), { recursive: true });
      await writeFile(path.join(dir, relative), source.pem);
      written.set(relative, source.pem);
    }
    return relative;
  };
  const lists: [string, readonly { source: string; pem: string }[]][] = [
    ['cacerts', definition.rootCerts],
    ['intermediatecerts', definition.intermediateCerts],
    ['admincerts', definition.admins],
    ['crls', definition.revocationList],
    ['tlscacerts', definition.tlsRootCerts],
    ['tlsintermediatecerts', definition.tlsIntermediateCerts],
  ];
  for (const [sub, list] of lists) {
    for (const [index, item] of list.entries()) await put(sub, index, item);
  }
  const nodeOus = definition.nodeOus;
  const yaml: string[] = [];
  if (nodeOus?.enable === true) {
    yaml.push('NodeOUs:', '  Enable: true');
    const keys = [
      ['clientOuIdentifier', 'ClientOUIdentifier'],
      ['peerOuIdentifier', 'PeerOUIdentifier'],
      ['adminOuIdentifier', 'AdminOUIdentifier'],
      ['ordererOuIdentifier', 'OrdererOUIdentifier'],
    ] as const;
    for (const [key, yamlKey] of keys) {
      const ou = nodeOus[key];
      if (ou === undefined) continue;
      yaml.push(
        `  ${yamlKey}:`,
        `    OrganizationalUnitIdentifier: ${ou.organizationalUnitIdentifier}`,
      );
      if (ou.certificate !== undefined) {
        yaml.push(`    Certificate: ${await put('cacerts', 0, ou.certificate)}`);
      }
    }
  }
  expect(definition.organizationalUnitIdentifiers).toEqual([]);
  await writeFile(path.join(dir, 'config.yaml'), `${yaml.join('\n')}\n`);
}

async function verify(file: string, mspDirs: readonly string[], extra: readonly string[] = []) {
  const run = await runCoffer([
    'receipt',
    'verify',
    file,
    ...mspDirs.flatMap((dir) => ['--msp-dir', dir]),
    '--json',
    ...extra,
  ]);
  expect(run.stdout, `exit ${run.code}, stderr: ${run.stderr}`).toMatch(/^\{/);
  return { ...run, verdict: JSON.parse(run.stdout) as Verdict };
}

async function writeJson(name: string, value: unknown): Promise<string> {
  const file = path.join(work, name);
  await writeFile(file, JSON.stringify(value));
  return file;
}

const org1Msp = () => `${path.join(orgDir, 'msp')}=Org1MSP`;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'coffer-cli-receipt-'));

  // The committed vectors' MSP definitions, as folders.
  const mspDirsOf = async (from: string, to: string): Promise<string[]> => {
    const fixture = JSON.parse(await readFile(path.join(from, 'msps.json'), 'utf8')) as {
      msps: unknown[];
    };
    const dirs: string[] = [];
    for (const [index, value] of fixture.msps.entries()) {
      const definition = parseMspDefinition(value, `msps[${index}]`);
      const dir = path.join(work, to, definition.mspId);
      await writeMspFolder(definition, dir);
      dirs.push(`${dir}=${definition.mspId}`);
    }
    return dirs;
  };
  fixtureMspDirs = await mspDirsOf(fixturesDir, 'fixture-msps');
  fixtureMspDirsV2 = await mspDirsOf(fixturesDirV2, 'fixture-msps-v2');

  // A real network: Org1 with a peer and a user, an engine that commits and signs roots.
  await generateCryptoMaterial({
    config:
      'PeerOrgs:\n  - Name: Org1\n    Domain: org1.example.com\n    EnableNodeOUs: true\n    Template: { Count: 1 }\n    Users: { Count: 1 }\n',
    outputDir: path.join(work, 'crypto'),
  });
  orgDir = path.join(work, 'crypto', 'peerOrganizations', 'org1.example.com');
  const orgMsp = await loadMspFolder(path.join(orgDir, 'msp'), { mspId: 'Org1MSP' });
  if (!orgMsp.ok) throw orgMsp.error;
  const consortium = { msps: new Map<string, Msp>([['Org1MSP', orgMsp.msp]]) };
  const user = await identityFromMspFolder(
    path.join(orgDir, 'users', 'User1@org1.example.com', 'msp'),
    'Org1MSP',
  );
  const peer = await loadMspFolder(path.join(orgDir, 'peers', 'peer0.org1.example.com', 'msp'), {
    mspId: 'Org1MSP',
    local: true,
  });
  const signing = peer.ok ? peer.msp.signingIdentity : undefined;
  const certPem = peer.folder?.signing?.signCert.pem;
  if (signing === undefined || certPem === undefined) throw new Error('peer0 has no signer');
  const engine = await startEngine({
    dataDir: path.join(work, 'node'),
    nodeId: 'peer0.org1.example.com',
    consortium: () => consortium,
    apps: builtInApps(),
    rootSigner: { mspId: 'Org1MSP', certPem, sign: (message) => signing.sign(message) },
    logger: pino({ level: 'silent' }),
    signatureIntervalTx: 10,
    signatureIntervalMs: 20,
  });
  try {
    const txIds: string[] = [];
    for (let i = 0; i < 3; i += 1) {
      const { envelope } = await signEnvelope({
        app: 'kv',
        action: 'put',
        args: { map: 'public:kv.t', key: `k${i}`, value: `v${i}` },
        identity: user.identity,
        signer: user.signer,
      });
      const submitted = await engine.submit(envelope);
      if (!submitted.ok) throw submitted.error;
      txIds.push(submitted.txId);
    }
    for (const txId of txIds) expect((await engine.waitFor(txId, 5000)).status).toBe('Committed');
    const [first, second] = txIds;
    if (first === undefined || second === undefined) throw new Error('two transactions');
    let found = await engine.receipt(second);
    for (let i = 0; found === undefined && i < 200; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      found = await engine.receipt(second);
    }
    if (found === undefined) throw new Error('no receipt');
    receipt = found;
    const [firstSigned] = signedRootsOf(found);
    if (firstSigned === undefined) throw new Error('a receipt without a signed root');
    signed = firstSigned;
    otherTxId = first;
  } finally {
    await engine.stop();
  }
  receiptFile = await writeJson('receipt.json', receipt);
});

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('coffer receipt verify: a receipt from a real engine run', () => {
  it('is valid with only the organisation MSP folder (human output)', async () => {
    const run = await runCoffer(['receipt', 'verify', receiptFile, '--msp-dir', org1Msp()]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`txId       ${receipt.txId}`);
    expect(run.stdout).toContain(`seqno      ${receipt.seqno}`);
    expect(run.stdout).toMatch(
      /signed by {2}peer0\.org1\.example\.com of Org1MSP \(peer\) at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/,
    );
    expect(run.stdout).toContain(`tree size  ${signed.treeSize}`);
    expect(run.stdout).toContain(`root       ${signed.root}`);
  });

  it('is valid in --json, with the txId checked against the tx entry', async () => {
    const { code, verdict } = await verify(receiptFile, [org1Msp()]);
    expect(code).toBe(0);
    expect(verdict).toMatchObject({
      valid: true,
      txId: receipt.txId,
      seqno: receipt.seqno,
      treeSize: signed.treeSize,
      root: signed.root,
      signedAt: new Date(signed.signedAt).toISOString(),
      signer: { nodeId: 'peer0.org1.example.com', mspId: 'Org1MSP', role: 'peer' },
      signers: [
        {
          nodeId: 'peer0.org1.example.com',
          mspId: 'Org1MSP',
          role: 'peer',
          signedAt: new Date(signed.signedAt).toISOString(),
        },
      ],
      txIdChecked: true,
    });
    expect(verdict.signers?.[0]?.identityId).toBe(verdict.signer?.identityId);
    expect(verdict.error).toBeUndefined();
  });

  it(
    'refuses a bit-flipped copy: entry, signature, root',
    async () => {
      const entry = Buffer.from(receipt.entry, 'base64');
      entry[20] = (entry[20] ?? 0) ^ 0x04;
      const signature = Buffer.from(signed.signature, 'base64');
      signature[10] = (signature[10] ?? 0) ^ 0x01;
      const root = Buffer.from(signed.root, 'hex');
      root[0] = (root[0] ?? 0) ^ 0x80;
      const cases: [string, unknown, string][] = [
        ['entry', { ...receipt, entry: entry.toString('base64') }, 'RECEIPT_E_ENTRY_MISMATCH'],
        [
          'signature',
          withSignedRoot({ signature: signature.toString('base64') }),
          'RECEIPT_E_SIGNATURE_INVALID',
        ],
        ['root', withSignedRoot({ root: root.toString('hex') }), 'RECEIPT_E_PROOF_INVALID'],
      ];
      for (const [name, tampered, code] of cases) {
        const {
          code: exit,
          verdict,
          stderr,
        } = await verify(await writeJson(`flipped-${name}.json`, tampered), [org1Msp()]);
        expect(exit, name).toBe(1);
        expect(verdict.valid, name).toBe(false);
        expect(verdict.error?.code, name).toBe(code);
        expect(stderr, name).toBe('');
      }
    },
    severalRunsMs,
  );

  it('refuses one bit flipped in the file bytes of the signature', async () => {
    const bytes = Buffer.from(await readFile(receiptFile));
    const at = bytes.indexOf(`"signature":"`) + `"signature":"`.length + 20;
    bytes[at] = (bytes[at] ?? 0) ^ 0x01; // a base64 letter becomes another letter
    const file = path.join(work, 'flipped-bytes.json');
    await writeFile(file, bytes);
    const { code, verdict } = await verify(file, [org1Msp()]);
    expect(code).toBe(1);
    expect(verdict.error?.code).toMatch(/^RECEIPT_E_(SIGNATURE_INVALID|MALFORMED)$/);
  });

  it('refuses the txId of another transaction of the same ledger', async () => {
    const { code, verdict } = await verify(
      await writeJson('other-txid.json', { ...receipt, txId: otherTxId }),
      [org1Msp()],
    );
    expect(code).toBe(1);
    expect(verdict.error?.code).toBe('RECEIPT_E_TXID_MISMATCH');
  });

  it('refuses it against another organisation that uses the same MSP ID', async () => {
    const { code, verdict } = await verify(receiptFile, fixtureMspDirs);
    expect(code).toBe(1);
    expect(verdict.error?.code).toBe('RECEIPT_E_SIGNER_INVALID');
  });

  it('refuses it once the node certificate is revoked in the MSP folder', async () => {
    const copy = path.join(work, 'revoked-org1');
    await cp(orgDir, copy, { recursive: true });
    const signcerts = path.join(copy, 'peers', 'peer0.org1.example.com', 'msp', 'signcerts');
    const [certName] = await readdir(signcerts);
    if (certName === undefined) throw new Error('no signcert');
    await revokeCertificate({
      orgDir: copy,
      certPem: await readFile(path.join(signcerts, certName), 'utf8'),
    });
    const { code, verdict } = await verify(receiptFile, [`${path.join(copy, 'msp')}=Org1MSP`]);
    expect(code).toBe(1);
    expect(verdict.error?.code).toBe('RECEIPT_E_SIGNER_INVALID');
    expect(verdict.error?.mspCode).toBe('MSP_E_IDENTITY_REVOKED');
  });

  it('shows the tx entry as indented JSON', async () => {
    const run = await runCoffer(['receipt', 'show', receiptFile]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('\n  "type": "tx"');
    const entry = JSON.parse(run.stdout) as { type: string; txId: string; seqno: number };
    expect(entry).toMatchObject({ type: 'tx', txId: receipt.txId, seqno: receipt.seqno });
  });
});

describe.concurrent('coffer receipt verify: the committed vectors (test/fixtures/receipts)', () => {
  it('holds the vectors', () => {
    expect(vectorNames.length).toBeGreaterThan(20);
  });

  // --any-entry: the vectors' entries are synthetic (type "test-entry/1"), not tx entries.
  it.each(vectorNames)('%s', async (name) => {
    const vector = JSON.parse(await readFile(path.join(fixturesDir, name), 'utf8')) as Vector;
    const file = await writeJson(`vector-${name}`, vector.receipt);
    const { code, verdict, stderr } = await verify(file, fixtureMspDirs, ['--any-entry']);
    expect(stderr).toBe('');
    if (vector.expect === 'ok' || vector.expect === 'RECEIPT_E_TXID_MISMATCH') {
      // Only a Coffer tx entry records a txId the CLI can check: --any-entry skips the check,
      // so the vector of another transaction's txId passes, and says it was not checked.
      expect(code).toBe(0);
      expect(verdict).toMatchObject({ valid: true, txIdChecked: false });
    } else {
      expect(code).toBe(1);
      expect(verdict.valid).toBe(false);
      expect(verdict.error?.code, vector.description).toBe(vector.expect);
    }
  });

  it('without --any-entry, refuses an entry that is not a Coffer transaction', async () => {
    const vector = JSON.parse(
      await readFile(path.join(fixturesDir, 'valid.json'), 'utf8'),
    ) as Vector;
    const { code, verdict } = await verify(
      await writeJson('vector-valid-strict.json', vector.receipt),
      fixtureMspDirs,
    );
    expect(code).toBe(1);
    expect(verdict.error?.code).toBe('RECEIPT_E_TXID_MISMATCH');
    expect(verdict.error?.message).toContain('"test-entry/1" entry, not a transaction entry');
  });
});

describe.concurrent(
  'coffer receipt verify: the format 2 vectors (test/fixtures/receipts/v2)',
  () => {
    it('holds the vectors', () => {
      expect(vectorNamesV2.length).toBeGreaterThan(15);
    });

    // Each vector with its verifier options as --min-signatures / --min-orgs.
    it.each(vectorNamesV2)('%s', async (name) => {
      const vector = JSON.parse(await readFile(path.join(fixturesDirV2, name), 'utf8')) as Vector;
      const file = await writeJson(`vector-v2-${name}`, vector.receipt);
      const { code, verdict, stderr } = await verify(file, fixtureMspDirsV2, [
        '--any-entry',
        ...optionFlags(vector),
      ]);
      expect(stderr).toBe('');
      if (vector.expect === 'ok') {
        expect(code).toBe(0);
        expect(verdict).toMatchObject({ valid: true, txIdChecked: false });
        const signers = (vector.receipt as { signedRoots: { nodeId: string; mspId: string }[] })
          .signedRoots;
        expect(verdict.signers?.map((s) => [s.nodeId, s.mspId, s.role])).toEqual(
          signers.map((s) => [s.nodeId, s.mspId, 'peer']),
        );
        expect(verdict.signer?.nodeId).toBe(signers[0]?.nodeId);
      } else {
        expect(code).toBe(1);
        expect(verdict).toMatchObject({ valid: false, signer: null, signers: null });
        expect(verdict.error?.code, vector.description).toBe(vector.expect);
      }
    });

    it('lists every signer in the human output', async () => {
      const file = await writeJson(
        'v2-three-human.json',
        (
          JSON.parse(
            await readFile(path.join(fixturesDirV2, 'valid-three-nodes.json'), 'utf8'),
          ) as Vector
        ).receipt,
      );
      const run = await runCoffer([
        'receipt',
        'verify',
        file,
        ...fixtureMspDirsV2.flatMap((dir) => ['--msp-dir', dir]),
        '--any-entry',
        '--min-signatures',
        '3',
        '--min-orgs',
        '2',
      ]);
      expect(run.stderr).toBe('');
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(
        /\n {2}signed by {2}peer0\.org1\.example\.com of Org1MSP \(peer\) at \S+\n {13}peer0\.org2\.example\.com of Org2MSP \(peer\) at \S+\n {13}peer1\.org1\.example\.com of Org1MSP \(peer\) at \S+\n {2}signers {4}3 nodes of 2 organisations\n {2}tree size {2}7\n/,
      );
    });

    it('says what is missing when too few organisations signed', async () => {
      const vector = JSON.parse(
        await readFile(path.join(fixturesDirV2, 'too-few-orgs.json'), 'utf8'),
      ) as Vector;
      const file = await writeJson('v2-too-few-human.json', vector.receipt);
      const run = await runCoffer([
        'receipt',
        'verify',
        file,
        ...fixtureMspDirsV2.flatMap((dir) => ['--msp-dir', dir]),
        '--any-entry',
        '--min-orgs',
        '3',
      ]);
      expect(run.code).toBe(1);
      expect(run.stdout).toContain(
        'RECEIPT_E_TOO_FEW_SIGNERS: the root is signed by 3 nodes of 2 organisations (Org1MSP, Org2MSP), but the verifier requires nodes of at least 3 organisations',
      );
      expect(run.stdout).toContain('what to do: ');
    });
  },
);

describe('coffer receipt verify: several signatures on a real engine receipt', () => {
  it(
    'the engine signature as format 2 verifies; one node is too few for --min-signatures 2',
    async () => {
      const asV2 = await writeJson('engine-v2.json', {
        version: 2,
        txId: receipt.txId,
        seqno: receipt.seqno,
        entry: receipt.entry,
        proof: receipt.proof,
        signedRoots: signedRootsOf(receipt),
      });
      const ok = await verify(asV2, [org1Msp()], ['--min-signatures', '1', '--min-orgs', '1']);
      expect(ok.code).toBe(0);
      expect(ok.verdict).toMatchObject({ valid: true, txIdChecked: true });
      expect(ok.verdict.signers).toHaveLength(signedRootsOf(receipt).length);
      const tooFew = await verify(asV2, [org1Msp()], ['--min-signatures', '2']);
      expect(tooFew.code).toBe(1);
      expect(tooFew.verdict.error?.code).toBe('RECEIPT_E_TOO_FEW_SIGNERS');
      const original = await verify(receiptFile, [org1Msp()], ['--min-signatures', '2']);
      expect(original.verdict.error?.code).toBe('RECEIPT_E_TOO_FEW_SIGNERS');
    },
    severalRunsMs,
  );
});

describe('coffer receipt: inputs that cannot be used', () => {
  it(
    'names a missing receipt file, without a stack trace',
    async () => {
      const missing = path.join(work, 'no-such-receipt.json');
      const run = await runCoffer(['receipt', 'verify', missing, '--msp-dir', org1Msp()]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain(`CLI_E_FILE_UNREADABLE: ${missing} cannot be read (ENOENT)`);
      expect(run.stderr).not.toMatch(/\n\s+at /);
      const json = await verify(missing, [org1Msp()]);
      expect(json.code).toBe(1);
      expect(json.verdict.error?.code).toBe('CLI_E_FILE_UNREADABLE');
    },
    severalRunsMs,
  );

  it('names a missing MSP folder, without a stack trace', async () => {
    const missing = path.join(work, 'no-such-msp');
    const run = await runCoffer(['receipt', 'verify', receiptFile, '--msp-dir', `${missing}=X`]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('MSP_E_DIR_NOT_FOUND');
    expect(run.stderr).toContain(missing);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses a file that is not JSON', async () => {
    const file = path.join(work, 'not-json.json');
    await writeFile(file, 'receipt?');
    const { code, verdict } = await verify(file, [org1Msp()]);
    expect(code).toBe(1);
    expect(verdict.error?.code).toBe('RECEIPT_E_MALFORMED');
    expect(verdict.error?.message).toContain(file);
  });

  it(
    'exits 2 on usage errors',
    async () => {
      const cases = [
        ['receipt'],
        ['receipt', 'frobnicate'],
        ['receipt', 'verify', receiptFile],
        ['receipt', 'verify', receiptFile, '--msp-dir', path.join(orgDir, 'msp')],
        ['receipt', 'verify', '--msp-dir', org1Msp()],
        ['receipt', 'verify', receiptFile, '--msp-dir', org1Msp(), '--msp-dir', org1Msp()],
        ['receipt', 'verify', receiptFile, '--msp-dir', org1Msp(), '--frob'],
        ['receipt', 'verify', receiptFile, '--msp-dir', org1Msp(), '--min-signatures', '0'],
        ['receipt', 'verify', receiptFile, '--msp-dir', org1Msp(), '--min-signatures', 'two'],
        ['receipt', 'verify', receiptFile, '--msp-dir', org1Msp(), '--min-signatures', '65'],
        ['receipt', 'verify', receiptFile, '--msp-dir', org1Msp(), '--min-orgs', '1.5'],
        // Two organisations cannot sign when only one is trusted.
        ['receipt', 'verify', receiptFile, '--msp-dir', org1Msp(), '--min-orgs', '2'],
        ['receipt', 'show'],
      ];
      for (const args of cases) {
        const run = await runCoffer(args);
        expect(run.code, args.join(' ')).toBe(2);
      }
      const help = await runCoffer(['receipt', 'verify', '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('--msp-dir DIR=MSPID');
      expect(help.stdout).toContain('--min-signatures N');
      expect(help.stdout).toContain('--min-orgs N');
      const tooManyOrgs = await runCoffer([
        'receipt',
        'verify',
        receiptFile,
        '--msp-dir',
        org1Msp(),
        '--min-orgs',
        '2',
      ]);
      expect(tooManyOrgs.stderr).toContain('--min-orgs 2 needs at least 2 --msp-dir');
    },
    severalRunsMs,
  );
});
