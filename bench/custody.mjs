// Custody withdrawals per second end to end (issue 7) on embedded defaults, next to the raw
// signing rate of SoftHSM2 in the same run. A node from `coffer up`, the signer in this process
// with its platform key on a SoftHSM2 token (or the software key store when SoftHSM2 is not
// installed), the coffer chain worker and the service's signing helper: BENCH_CUSTODY_N
// withdrawals under the limit (the approval-free path), all requested at once, each going
// requested → approved → built → service_signed → platform_signed → broadcast → confirmed with
// two signatures (service key in software, platform key on the token). Withdrawals/s = N / (first
// request → the last confirmed). Raw signing: P-256 CKM_ECDSA over 32-byte digests on the same
// token, BENCH_CUSTODY_SIGN_S seconds, BENCH_CUSTODY_SIGN_LANES in flight (default 1: with 4
// in flight the process crashes (segfault / malloc abort): src/crypto/pkcs11.ts calls
// C_Initialize without CKF_OS_LOCKING_OK, so SoftHSM2 does no locking while C_SignAsync runs
// on several sessions from libuv's threads; with the flag, 16 in flight run cleanly).
// Prints one JSON line: {"withdrawalsPerSec", "withdrawals", "seconds", "hsmSignsPerSec", ...}.
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { setTimeout, clearTimeout } from 'node:timers';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { createClient, identityFromMspFolder } from '../dist/client/index.js';
import { createCustodyClient } from '../dist/client/custody.js';
import { multisigAccountOf } from '../dist/contracts/token.js';
import { openPkcs11KeyStore, openSoftKeyStore } from '../dist/crypto/index.js';
import { generateScalarKey, signDigestWithScalar } from '../dist/crypto/keys.js';
import { createCofferChain } from '../dist/custody/chains/coffer.js';
import { createCustodyWorker, createSignerClient } from '../dist/custody/worker.js';
import { createSignerServer, loadConsortiumMsps, openAuditLog } from '../dist/signer/index.js';

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const coffer = path.join(repoRoot, 'bin', 'coffer');
const withdrawals = Number(process.env.BENCH_CUSTODY_N ?? 200);
const signSeconds = Number(process.env.BENCH_CUSTODY_SIGN_S ?? 3);
const signLanes = Number(process.env.BENCH_CUSTODY_SIGN_LANES ?? 1);
const symbol = 'CFR';
const pin = '1234-user-pin';
const softHsmPaths = [
  '/usr/lib/softhsm/libsofthsm2.so',
  '/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so',
  '/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so',
];

function log(line) {
  process.stderr.write(`custody: ${line}\n`);
}

async function softHsmStore(work) {
  const library = softHsmPaths.find((each) => existsSync(each));
  if (library === undefined) return undefined;
  const tokenDir = path.join(work, 'tokens');
  await mkdir(tokenDir);
  const conf = path.join(work, 'softhsm2.conf');
  await writeFile(
    conf,
    `directories.tokendir = ${tokenDir}\nobjectstore.backend = file\nlog.level = ERROR\n`,
  );
  process.env.SOFTHSM2_CONF = conf;
  execFileSync(
    'softhsm2-util',
    ['--init-token', '--free', '--label', 'bench', '--pin', pin, '--so-pin', '5678-so'],
    {
      stdio: 'pipe',
    },
  );
  return openPkcs11KeyStore({ library, tokenLabel: 'bench', pin });
}

async function rawSignRate(store, keyId) {
  const sign = await store.signer(keyId);
  const digest = createHash('sha256').update(randomBytes(32)).digest();
  let count = 0;
  const end = performance.now() + signSeconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: signLanes }, async () => {
      while (performance.now() < end) {
        await sign(new Uint8Array(digest));
        count += 1;
      }
    }),
  );
  return count / ((performance.now() - started) / 1000);
}

async function startUp(dir) {
  const child = spawn(
    coffer,
    ['up', '--dir', dir, '--port', '0', '--json', '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let url = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node did not start: ${stderr}`)), 60_000);
    child.once('exit', (code) => reject(new Error(`node exited with ${code}: ${stderr}`)));
    lines.on('line', (line) => {
      const match = /listening on (https:\/\/\S+)/.exec(line);
      if (match?.[1] !== undefined) url = match[1];
      if (line.includes('"event":"started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.removeAllListeners('exit');
  return { child, url };
}

async function identityFiles(dir, org, user) {
  const domain = `org${org}.coffer.local`;
  const msp = path.join(
    dir,
    'crypto',
    'peerOrganizations',
    domain,
    'users',
    `${user}@${domain}`,
    'msp',
  );
  const [certFile] = await readdir(path.join(msp, 'signcerts'));
  const [keyFile] = await readdir(path.join(msp, 'keystore'));
  const cert = await readFile(path.join(msp, 'signcerts', certFile), 'utf8');
  const key = await readFile(path.join(msp, 'keystore', keyFile), 'utf8');
  const identityId = createHash('sha256').update(new X509Certificate(cert).raw).digest('hex');
  return { msp, cert, key, identityId };
}

async function party(dir, url, org, user) {
  const profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8'));
  const files = await identityFiles(dir, org, user);
  const options = {
    url,
    servername: profile.servername,
    ca: await readFile(profile.caFile, 'utf8'),
    tlsCert: files.cert,
    tlsKey: files.key,
    ...(await identityFromMspFolder(files.msp, `Org${org}MSP`)),
  };
  const client = createClient(options);
  return Object.assign(client, { custody: createCustodyClient(options), files });
}

async function must(client, app, action, args) {
  const result = await client.submit(app, action, args, { wait: 'commit' });
  if (result.status !== 'Committed')
    throw new Error(
      `${app} ${action}: ${result.status} ${result.code ?? ''} ${result.message ?? ''}`,
    );
  return result;
}

async function main() {
  const work = await mkdtemp(path.join(os.tmpdir(), 'coffer-bench-custody-'));
  const dir = path.join(work, 'node');
  let node;
  const cleanup = [];
  try {
    const hsm = await softHsmStore(work);
    const store =
      hsm ??
      (await openSoftKeyStore({
        file: path.join(work, 'keys.json'),
        passphrase: 'bench passphrase',
        create: true,
        kdfLog2N: 14,
      }));
    cleanup.push(() => store.close());
    const platform = await store.generate({ curve: 'P-256', label: 'platform' });
    log(
      `raw signing on ${hsm === undefined ? 'the software key store' : 'SoftHSM2'} for ${signSeconds} s`,
    );
    const hsmSignsPerSec = await rawSignRate(store, platform.keyId);

    await mkdir(dir);
    const started = await startUp(dir);
    node = started.child;
    const { url } = started;
    const service = await party(dir, url, 1, 'User1');
    const admin1 = await party(dir, url, 1, 'Admin');
    const admin2 = await party(dir, url, 2, 'Admin');
    const workerParty = await party(dir, url, 2, 'User1');
    for (const each of [service, admin1, admin2, workerParty])
      cleanup.push(() => (each.close(), each.custody.close()));

    const custody = {
      chains: { coffer: { workers: [`Org2MSP:${workerParty.files.identityId}`] } },
    };
    const proposed = await must(admin1, 'gov', 'propose', {
      actions: [{ name: 'set_custody', args: { custody } }],
    });
    await must(admin2, 'gov', 'vote', { proposalId: proposed.txId, ballot: 'yes' });

    const crypto = path.join(dir, 'crypto');
    const msps = await loadConsortiumMsps(
      [1, 2, 3].map((n) => ({
        mspId: `Org${n}MSP`,
        mspDir: path.join(crypto, 'peerOrganizations', `org${n}.coffer.local`, 'msp'),
      })),
    );
    const peers = path.join(crypto, 'peerOrganizations', 'org1.coffer.local', 'peers');
    const [peer] = await readdir(peers);
    const tlsDir = path.join(peers, peer, 'tls');
    const server = await createSignerServer({
      config: {
        authorisedCallers: [{ mspId: 'Org2MSP', identityId: workerParty.files.identityId }],
        organisationsMin: 1,
        receiptAgeMsMax: 600_000,
        requestsInFlightMax: 256,
      },
      msps,
      keyStore: store,
      audit: await openAuditLog(path.join(work, 'audit.log'), () => Date.now()),
      logger: pino({ level: 'silent' }),
      tls: {
        cert: await readFile(path.join(tlsDir, 'server.crt'), 'utf8'),
        key: await readFile(path.join(tlsDir, 'server.key'), 'utf8'),
      },
    });
    cleanup.push(() => server.close());
    const signer = createSignerClient({
      url: await server.listen('127.0.0.1', 0),
      ca: await readFile(path.join(tlsDir, 'ca.crt'), 'utf8'),
      servername: peer,
      cert: workerParty.files.cert,
      key: workerParty.files.key,
    });
    const errors = [];
    const worker = createCustodyWorker({
      ledger: workerParty,
      custody: workerParty.custody,
      signer,
      chain: createCofferChain(workerParty),
      onEvent: (event) => {
        if (event.kind === 'error') errors.push(`${event.action}: ${event.error}`);
      },
    });

    const offline = generateScalarKey('P-256');
    const serviceKey = generateScalarKey('P-256');
    const created = await must(service, 'custody', 'create_wallet', {
      chain: 'coffer',
      keys: {
        offline: offline.publicKey,
        service: serviceKey.publicKey,
        platform: { keyId: platform.keyId, publicKey: platform.publicKey, curve: 'P-256' },
      },
    });
    const walletId = created.txId;
    for (const change of [
      { kind: 'set_limits', asset: symbol, perTransaction: '1000000', rolling24h: '1000000000' },
      { kind: 'set_whitelist_enabled', enabled: false },
    ]) {
      const proposal = await must(service, 'custody', 'propose_policy', { walletId, change });
      await must(admin1, 'custody', 'approve_policy', { changeId: proposal.txId });
      await must(admin2, 'custody', 'approve_policy', { changeId: proposal.txId });
    }
    await must(admin1, 'token', 'mint', {
      symbol,
      to: multisigAccountOf(walletId),
      amount: String(withdrawals * 10),
    });
    const sign = (digest) =>
      Promise.resolve(signDigestWithScalar('P-256', serviceKey.secretKey, digest));
    const pass = () => Promise.all([worker.step(), service.custody.signBuilt(walletId, sign)]);
    for (let i = 0; ; i += 1) {
      await pass();
      const { balances } = await service.custody.balances(walletId);
      if (balances.some((item) => item.asset === symbol && item.total === String(withdrawals * 10)))
        break;
      if (i > 100) throw new Error(`the deposit was not credited: ${errors.slice(-3).join(' | ')}`);
    }

    log(`${withdrawals} withdrawals`);
    const destination = `Org3MSP:${'cd'.repeat(32)}`;
    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from(
        { length: withdrawals },
        async (_, i) =>
          (
            await must(service, 'custody', 'request', {
              walletId,
              asset: symbol,
              amount: '1',
              destination,
              idempotencyKey: `bench-${i}`,
            })
          ).txId,
      ),
    );
    const requestedSeconds = (performance.now() - t0) / 1000;
    let confirmedAll = false;
    for (let i = 0; i < 2000 && !confirmedAll; i += 1) {
      await pass();
      const balance = await service.query('token', 'balance', { symbol, account: destination });
      confirmedAll = balance.balance === String(withdrawals);
    }
    const seconds = (performance.now() - t0) / 1000;
    if (!confirmedAll)
      throw new Error(`not all withdrawals confirmed: ${errors.slice(-3).join(' | ')}`);
    const last = await service.custody.withdrawal(ids[ids.length - 1]);
    const figures = {
      withdrawalsPerSec: Math.round((withdrawals / seconds) * 10) / 10,
      withdrawals,
      seconds: Math.round(seconds * 100) / 100,
      requestSeconds: Math.round(requestedSeconds * 100) / 100,
      lastState: last.withdrawal?.state ?? null,
      platformKeyStore: hsm === undefined ? 'software' : 'softhsm2',
      hsmSignsPerSec: Math.round(hsmSignsPerSec),
      signaturesPerWithdrawal: 2,
      workerErrors: errors.length,
    };
    process.stdout.write(`${JSON.stringify(figures)}\n`);
  } finally {
    for (const step of cleanup.reverse()) await step();
    if (node !== undefined && node.exitCode === null) {
      const gone = new Promise((resolve) => node.once('exit', resolve));
      node.kill('SIGINT');
      await gone;
    }
    await rm(work, { recursive: true, force: true });
  }
}

await main();
