// Limits of a real node process on loopback, started the way users start it (`coffer up` writes
// the consortium and node.json; `coffer node start --config` runs variants of it):
// - backpressure: a flood beyond `pendingMax` gets HTTP 429 NODE_E_BACKPRESSURE with Retry-After,
//   nothing acknowledged is lost, refused transactions are not in the ledger and commit when sent
//   again once the load is gone;
// - a full disk, on small tmpfs volumes (root or CAP_SYS_ADMIN; COFFER_TEST_NO_MOUNT=1 skips):
//   the ordering log's volume and the ledger files' volume each fill up in turn. Each has its own
//   volume so that which one fills first is not a race (on one shared volume it is).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, identityFromMspFolder, type Client } from '../../src/client/index.js';
import { envelopeToJson } from '../../src/ledger/tx.js';
import { pendingEnvelopesMax } from '../../src/node/engine.js';

const coffer = path.resolve(import.meta.dirname, '../../bin/coffer');
const execFileAsync = promisify(execFile);

/** pendingMax of the flooded node: small, so that one test process can exceed it. */
const floodPendingMax = 50;
const floodTransactions = 500;
/** Requests in flight at once during the flood (and sockets of its agent). */
const floodConcurrency = 150;
/** Requests in flight when refused transactions are sent again: well below floodPendingMax. */
const retryConcurrency = 8;
/** Reads in flight at once when checking outcomes. */
const checkConcurrency = 32;
/** Size of each tmpfs volume, and the room a filler file leaves on it. */
const volumeBytes = 8 * 1024 * 1024;
const roomLeftBytes = 64 * 1024;
/** A bound on submissions while the disk fills (hit only if nothing is ever refused). */
const fillSubmissionsMax = 2000;
/** `?wait=commit` timeout of each submission. */
const commitWaitMs = 3000;
/** The ordering log looks for space every second (diskFullRetryMs): allow a few looks. */
const resumeWaitMs = 5000;

type Profile = {
  url: string;
  servername: string;
  caFile: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  mspId: string;
  mspDir: string;
};

type Running = {
  readonly child: ChildProcess;
  readonly url: string;
  readonly stderr: () => string;
};

type Answer = {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly body: {
    readonly status?: string;
    readonly seqno?: number;
    readonly ok?: boolean;
    readonly reason?: string;
    readonly error?: { readonly code: string; readonly message: string };
  };
};

let dir = '';
let profile: Profile;
let tlsOptions: { ca: string; cert: string; key: string; servername: string };
/** The node.json `coffer up` wrote; each scenario derives its own config from it. */
let upConfig: Record<string, unknown>;
const children = new Set<ChildProcess>();
const mounts: string[] = [];

/** Starts `coffer <args>` and resolves once it prints its listening line (or `up`'s event). */
async function startProcess(args: string[]): Promise<Running> {
  const child = spawn(coffer, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-8000);
  });
  let url = '';
  const lines = createInterface({ input: child.stdout });
  let onExit: (code: number | null) => void = () => undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`coffer ${args.join(' ')} did not start within 30 s: ${stderr}`));
    }, 30_000);
    onExit = (code) => {
      clearTimeout(timer);
      reject(new Error(`coffer ${args.join(' ')} exited with ${String(code)}: ${stderr}`));
    };
    child.once('exit', onExit);
    lines.on('line', (line) => {
      const match = /listening on (https:\/\/\S+)/.exec(line);
      if (match?.[1] !== undefined) url = match[1];
      if (line.includes('"event":"started"') || (args[0] === 'node' && match !== null)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  child.off('exit', onExit);
  return { child, url, stderr: () => stderr };
}

/** Stops a process (SIGKILL if it has not exited 15 s after `signal`); resolves with its exit code. */
async function stopProcess(
  child: ChildProcess | undefined,
  signal: NodeJS.Signals = 'SIGINT',
): Promise<number | null> {
  if (child === undefined) return null;
  if (child.exitCode !== null || child.signalCode !== null) {
    children.delete(child);
    return child.exitCode;
  }
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  child.kill(signal);
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, 15_000);
  const code = await exited;
  clearTimeout(timer);
  children.delete(child);
  return code;
}

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/** Writes `<name>.json`: the node config of `coffer up` with a free port and `overrides`. */
async function nodeConfig(name: string, overrides: Record<string, unknown>): Promise<string> {
  const file = path.join(dir, `${name}.json`);
  const config = { ...upConfig, listen: { host: '127.0.0.1', port: 0 }, ...overrides };
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

async function startNode(configFile: string): Promise<Running> {
  return startProcess(['node', 'start', '--config', configFile, '--log-level', 'warn']);
}

/** The SDK client of Org1's User1 (the profile `coffer up` wrote), against `url`. */
async function sdk(url: string): Promise<Client> {
  const { identity, signer } = await identityFromMspFolder(profile.mspDir, profile.mspId);
  return createClient({
    url,
    servername: tlsOptions.servername,
    ca: tlsOptions.ca,
    tlsCert: tlsOptions.cert,
    tlsKey: tlsOptions.key,
    identity,
    signer,
  });
}

/** A raw HTTPS call (mutual TLS), to see status codes and headers as they are. */
function call(
  agent: Agent,
  url: string,
  method: 'GET' | 'POST',
  route: string,
  body?: unknown,
): Promise<Answer> {
  const target = new URL(route, url);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        hostname: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method,
        agent,
        headers:
          payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': payload.length },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const retry = res.headers['retry-after'];
          try {
            resolve({
              status: res.statusCode ?? 0,
              retryAfter: retry,
              body: (text.length === 0 ? {} : JSON.parse(text)) as Answer['body'],
            });
          } catch {
            reject(
              new Error(`HTTP ${String(res.statusCode)} with a body that is not JSON: ${text}`),
            );
          }
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function agentOf(sockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: sockets, ...tlsOptions });
}

/** Signs one kv put; returns its id and the JSON body of POST /v1/tx. */
async function signPut(
  client: Client,
  map: string,
  key: string,
  value: string,
): Promise<{ txId: string; key: string; value: string; body: unknown }> {
  const { envelope, txId } = await client.sign('kv', 'put', { map, key, value });
  return { txId, key, value, body: envelopeToJson(envelope) };
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/** Runs `work` over `items` with at most `concurrency` in flight. */
async function pool<T>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < items.length; index = next++) {
      await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'coffer-limits-'));
  const up = await startProcess([
    'up',
    '--dir',
    dir,
    '--port',
    '0',
    '--json',
    '--log-level',
    'warn',
  ]);
  await stopProcess(up.child);
  profile = JSON.parse(await readFile(path.join(dir, 'client.json'), 'utf8')) as Profile;
  upConfig = JSON.parse(await readFile(path.join(dir, 'node.json'), 'utf8')) as Record<
    string,
    unknown
  >;
  tlsOptions = {
    ca: await readFile(profile.caFile, 'utf8'),
    cert: await readFile(profile.tlsCertFile, 'utf8'),
    key: await readFile(profile.tlsKeyFile, 'utf8'),
    servername: profile.servername,
  };
}, 60_000);

afterAll(async () => {
  // Processes first: a node holding files open on a volume keeps it busy.
  await Promise.all([...children].map((child) => stopProcess(child, 'SIGKILL')));
  for (const target of mounts.splice(0).reverse()) {
    try {
      await execFileAsync('umount', [target]);
    } catch {
      await execFileAsync('umount', ['-l', target]).catch((error: unknown) => {
        console.error(`could not unmount the test tmpfs at ${target}: ${String(error)}`);
      });
    }
  }
  if (dir !== '') await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('node config pendingMax', () => {
  it('refuses a pendingMax above the engine limit, naming the field', async () => {
    const file = await nodeConfig('too-many-pending', { pendingMax: pendingEnvelopesMax + 1 });
    const child = spawn(coffer, ['node', 'start', '--config', file], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    children.delete(child);
    expect(code).not.toBe(0);
    expect(output).toContain(`pendingMax must be at most ${pendingEnvelopesMax}`);
  });
});

describe('backpressure of a real node (pendingMax in node.json)', () => {
  let node: Running | undefined;

  afterAll(async () => {
    await stopProcess(node?.child);
  });

  it('answers a flood with 429 NODE_E_BACKPRESSURE and Retry-After, loses nothing it acknowledged, and accepts the refused ones once the load is gone', async () => {
    const config = await nodeConfig('flood', {
      dataDir: path.join(dir, 'nodes', 'flood'),
      pendingMax: floodPendingMax,
    });
    node = await startNode(config);
    const client = await sdk(node.url);
    const agent = agentOf(floodConcurrency);
    try {
      const map = 'public:kv.flood';
      const signed = [];
      for (let i = 0; i < floodTransactions; i += 1)
        signed.push(await signPut(client, map, `k${i}`, `v${i}`));
      const answers: Answer[] = [];
      const { url } = node;
      await pool(signed, floodConcurrency, async (tx, index) => {
        answers[index] = await call(agent, url, 'POST', '/v1/tx?wait=none', tx.body);
      });

      const accepted = signed.filter((_, i) => answers[i]?.status === 202);
      const refused = signed.filter((_, i) => answers[i]?.status === 429);
      const others = answers.filter((answer) => answer.status !== 202 && answer.status !== 429);
      expect(others, 'answers other than 202 and 429').toEqual([]);
      // Far below the default limit: 429s here mean pendingMax reached the engine.
      expect(refused.length, 'a flood beyond pendingMax gets 429s').toBeGreaterThan(0);
      expect(accepted.length).toBeGreaterThan(0);
      for (const answer of answers.filter((item) => item.status === 429)) {
        expect(answer.body.error?.code).toBe('NODE_E_BACKPRESSURE');
        expect(answer.retryAfter, 'Retry-After in whole seconds').toMatch(/^[1-9][0-9]*$/);
      }

      // Every 202 commits; no refused transaction is in the ledger.
      await pool(accepted, checkConcurrency, async (tx) => {
        const status = await client.status(tx.txId, { wait: 'commit' });
        expect(status, `accepted ${tx.key}`).toMatchObject({ status: 'Committed' });
        expect(await client.state(map, tx.key)).toBe(tx.value);
      });
      await pool(refused, checkConcurrency, async (tx) => {
        expect((await client.status(tx.txId)).status, `refused ${tx.key}`).toBe('Unknown');
        expect(await client.state(map, tx.key)).toBeUndefined();
      });

      // Load gone: the same signed envelopes are accepted (a refusal did not burn their ids).
      await pool(refused, retryConcurrency, async (tx) => {
        const answer = await call(agent, url, 'POST', '/v1/tx?wait=commit', tx.body);
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.body.status).toBe('Committed');
      });
      await pool(signed, checkConcurrency, async (tx) => {
        expect(await client.state(map, tx.key)).toBe(tx.value);
      });
    } finally {
      agent.destroy();
      client.close();
    }
  }, 60_000);
});

/** Mounts a tmpfs of `bytes` at `target`; false when mounting is refused and tests may skip. */
async function mountTmpfs(target: string, bytes: number): Promise<boolean> {
  await mkdir(target, { recursive: true });
  try {
    await execFileAsync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'coffer-test', target]);
  } catch (error) {
    const why = (error as { stderr?: string }).stderr?.trim() ?? String(error);
    if (process.env['COFFER_TEST_NO_MOUNT'] === '1') {
      console.warn(`full-disk tests skipped (COFFER_TEST_NO_MOUNT=1): mount failed: ${why}`);
      return false;
    }
    throw new Error(
      `cannot mount a tmpfs at ${target} (${why}). The full-disk tests need root or ` +
        'CAP_SYS_ADMIN; run them so, or set COFFER_TEST_NO_MOUNT=1 to skip them.',
    );
  }
  mounts.push(target);
  return true;
}

/** Fills the volume at `target` with a file that leaves `roomLeftBytes` free; returns its path. */
async function fill(target: string): Promise<string> {
  const filler = path.join(target, 'filler');
  const space = await statfs(target);
  const free = space.bavail * space.bsize;
  expect(free, 'the volume has more room than the filler leaves').toBeGreaterThan(roomLeftBytes);
  await writeFile(filler, Buffer.alloc(free - roomLeftBytes));
  return filler;
}

type Acknowledged = { readonly txId: string; readonly key: string; readonly seqno: number };

/**
 * A node whose `volume` (a folder of its data dir) is a small tmpfs that fills up: a full
 * ordering log refuses appends; full ledger files pause execution. Both resume by themselves.
 */
function fullDiskScenario(name: string, volume: 'log' | 'ledger'): void {
  describe(`a full ${volume} volume (${name})`, () => {
    const dataDir = (): string => path.join(dir, 'nodes', name);
    const map = `public:kv.${name}`;
    /** Transactions answered 200 Committed: they must stay committed, restart or not. */
    const acknowledged = new Map<string, Acknowledged>();
    /** Answered 2xx but not Committed (e.g. 200 Unknown when the log refused their batch). */
    const unsettled = new Map<string, { readonly key: string; readonly status: string }>();
    let mounted = false;
    let config = '';
    let node: Running | undefined;
    let agent: Agent | undefined;
    /** Signs only: its URL does not matter. */
    let signing: Client | undefined;
    let filler = '';
    let submitted = 0;

    /** Submits one kv put with ?wait=commit and files it under acknowledged or unsettled. */
    const submit = async (prefix: string): Promise<Answer> => {
      const key = `${prefix}${submitted}`;
      submitted += 1;
      const tx = await signPut(signing as Client, map, key, key);
      const route = `/v1/tx?wait=commit&timeoutMs=${commitWaitMs}`;
      const answer = await call(agent as Agent, node?.url ?? '', 'POST', route, tx.body);
      if (answer.status === 200 && answer.body.status === 'Committed')
        acknowledged.set(tx.txId, { txId: tx.txId, key, seqno: answer.body.seqno ?? -1 });
      else if (answer.status < 300)
        unsettled.set(tx.txId, { key, status: answer.body.status ?? '' });
      return answer;
    };

    const health = async (): Promise<Answer> =>
      call(agent as Agent, node?.url ?? '', 'GET', '/v1/health');

    /** Every acknowledged transaction is Committed at its seqno, with its value in state. */
    const expectAcknowledgedKept = async (): Promise<void> => {
      const client = await sdk(node?.url ?? '');
      try {
        for (const { txId, key, seqno } of acknowledged.values()) {
          expect(await client.status(txId), `acknowledged ${key}`).toMatchObject({
            status: 'Committed',
            seqno,
          });
          expect(await client.state(map, key)).toBe(key);
        }
      } finally {
        client.close();
      }
    };

    beforeAll(async () => {
      mounted = await mountTmpfs(path.join(dataDir(), volume), volumeBytes);
      if (!mounted) return;
      agent = agentOf(4);
      config = await nodeConfig(name, { dataDir: dataDir() });
      node = await startNode(config);
      signing = await sdk(node.url);
    }, 60_000);

    afterAll(async () => {
      await stopProcess(node?.child);
      agent?.destroy();
      signing?.close();
    });

    it('refuses with 503 NODE_E_UNAVAILABLE, says why in /v1/health, stays up and keeps every acknowledged transaction', async ({
      skip,
    }) => {
      skip(!mounted, 'no tmpfs (COFFER_TEST_NO_MOUNT=1)');
      for (let i = 0; i < 5; i += 1) expect((await submit('before')).body.status).toBe('Committed');
      filler = await fill(path.join(dataDir(), volume));
      let refusal: Answer | undefined;
      for (let i = 0; i < fillSubmissionsMax && refusal === undefined; i += 1) {
        const answer = await submit('filling');
        if (answer.status >= 300) refusal = answer;
      }
      expect(refusal, `no refusal after ${fillSubmissionsMax} submissions`).toBeDefined();
      const refusals = [refusal as Answer];
      for (let i = 0; i < 3; i += 1) refusals.push(await submit('refused'));
      for (const answer of refusals) {
        expect(answer.status, JSON.stringify(answer.body)).toBe(503);
        expect(answer.body.error?.code).toBe('NODE_E_UNAVAILABLE');
        expect(answer.body.error?.message).toMatch(/disk (is )?full/);
        expect(answer.body.error?.message).toContain('ENOSPC');
        // A full disk is a state the node leaves by itself: it says when to come back.
        expect(answer.retryAfter).toBe('1');
      }
      const state = await health();
      if (process.env['COFFER_DEBUG'] !== undefined) {
        console.error(
          JSON.stringify({ name, refusal, health: state.body, unsettled: [...unsettled.values()] }),
        );
      }
      expect(state.status).toBe(503);
      expect(state.body.ok).toBe(false);
      expect(state.body.reason).toMatch(/disk (is )?full/);
      expect(state.body.reason).toContain(volume === 'log' ? 'ordering' : 'ledger');
      expect(alive(node?.child as ChildProcess), node?.stderr()).toBe(true);
      expect(acknowledged.size).toBeGreaterThan(5);
      await expectAcknowledgedKept();
    }, 60_000);

    it('resumes by itself once space returns, without a restart', async ({ skip }) => {
      skip(!mounted, 'no tmpfs (COFFER_TEST_NO_MOUNT=1)');
      await rm(filler, { force: true });
      const deadline = Date.now() + resumeWaitMs;
      let state = await health();
      while (state.status !== 200 && Date.now() < deadline) {
        await sleep(100);
        state = await health();
      }
      expect(state.status, JSON.stringify(state.body)).toBe(200);
      for (let i = 0; i < 5; i += 1) {
        const answer = await submit('resumed');
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.body.status).toBe('Committed');
      }
      await expectAcknowledgedKept();
    }, 30_000);

    it('after a restart, every acknowledged transaction is committed and new ones commit', async ({
      skip,
    }) => {
      skip(!mounted, 'no tmpfs (COFFER_TEST_NO_MOUNT=1)');
      await rm(filler, { force: true });
      const code = await stopProcess(node?.child);
      expect(code, node?.stderr()).toBe(0);
      node = await startNode(config);
      await expectAcknowledgedKept();
      // Answered 2xx but not Committed: settled now, either way, and nothing is left pending.
      const client = await sdk(node.url);
      try {
        for (const [txId, { key }] of unsettled) {
          expect(['Committed', 'Unknown'], key).toContain((await client.status(txId)).status);
        }
      } finally {
        client.close();
      }
      for (let i = 0; i < 5; i += 1)
        expect((await submit('restarted')).body.status).toBe('Committed');
      await expectAcknowledgedKept();
    }, 60_000);
  });
}

fullDiskScenario('log-full', 'log');
fullDiskScenario('ledger-full', 'ledger');
