// ERC-20 transfers through Ethereum JSON-RPC (issue 9): OpenZeppelin's ERC-20 compiled by solc,
// on a 3-node Coffer network (`coffer network up --nodes 3`: 3 etcd members and 3 nodes as
// separate processes, fsync on) and, in the same run, on anvil on this machine (automine, one
// process, no consensus, started with Coffer's chain id and gas price 0), with the very same
// signed transactions (signed once, before either chain starts; signing is not timed):
//
//   - BENCH_EVM_SENDERS accounts per node (Coffer: bound to that organisation's User1; each
//     sends through its own organisation's node), funded with tokens by the deployer;
//   - BENCH_EVM_TX transfers in all (default 2,400, so that a run fits bench/run.mjs's 120 s),
//     each a transfer of 1 token to the sender's own recipient, gas 100,000, gas price 0
//     (legacy, EIP-155, chain id 7331);
//   - each sender sends its transactions in nonce order, in JSON-RPC batches of BENCH_EVM_CHUNK,
//     with at most BENCH_EVM_WINDOW sent and not yet executed (a Coffer node keeps no queue of
//     future nonces: src/evm/limits.ts pendingPerSenderMax = 64);
//   - executed = the sender's nonce as its node reports it (eth_getTransactionCount, latest),
//     read every BENCH_EVM_POLL_MS for every sender in one batch per node;
//   - transfers/s = transfers / (first send → the last executed); loaded latency = a chunk's
//     send → each of its transfers executed (p50/p99);
//   - latency at a set rate: BENCH_EVM_LATENCY_RATE transfers/s (default 50, the same for both
//     chains) over all accounts for BENCH_EVM_LATENCY_S seconds, open loop (each sent at its
//     scheduled time, one per request), scheduled send → executed (p50/p99);
//   - unloaded latency: BENCH_EVM_SERIAL transfers one at a time from one account, send →
//     its receipt (eth_getTransactionReceipt every 5 ms);
//   - then every Coffer node (and anvil) must report the recipients' balances the transfers
//     made (eth_call balanceOf).
//
// Prints one JSON line: {"coffer": {...}, "anvil": {...}, ...}.
import { Buffer } from 'node:buffer';
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL, fileURLToPath } from 'node:url';
import { Interface, Wallet, getCreateAddress } from 'ethers';
import solc from 'solc';
import { clientFromProfile } from '../dist/cli/profile.js';
import { identityFromMspFolder } from '../dist/client/signer.js';
import { bindingMessage, defaultChainId } from '../dist/evm/index.js';
import { freePort } from '../dist/ordering/index.js';
import { networkDownSync, networkUp } from './lib/network.mjs';
import { atCleanup, cleanupSync, intEnv, percentile, round1, track } from './lib/procs.mjs';

const repoRoot = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const positiveEnv = (name, fallback) => intEnv(name, fallback, 1);
const nodes = 3;
const sendersPerNode = positiveEnv('BENCH_EVM_SENDERS', 8);
const txTotal = positiveEnv('BENCH_EVM_TX', 2400);
const chunk = positiveEnv('BENCH_EVM_CHUNK', 16);
const window = positiveEnv('BENCH_EVM_WINDOW', 48);
const pollMs = positiveEnv('BENCH_EVM_POLL_MS', 20);
const serial = positiveEnv('BENCH_EVM_SERIAL', 50);
/** The open-loop latency phase: this many transfers/s over all accounts, for this long. */
const latencyRate = positiveEnv('BENCH_EVM_LATENCY_RATE', 50);
const latencySeconds = positiveEnv('BENCH_EVM_LATENCY_S', 8);
const transferGas = 100_000n;
/** A phase that has not finished after this long fails the benchmark. */
const phaseMsMax = 60_000;
const started = performance.now();
const log = (line) =>
  process.stderr.write(`evm: [${((performance.now() - started) / 1000).toFixed(1)} s] ${line}\n`);

// ---- the contract ---------------------------------------------------------------------------

function compileToken() {
  const modules = path.join(repoRoot, 'node_modules');
  const source = readFileSync(path.join(repoRoot, 'test/fixtures/evm/CofferToken.sol'), 'utf8');
  const input = {
    language: 'Solidity',
    sources: { 'CofferToken.sol': { content: source } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
    },
  };
  const output = JSON.parse(
    solc.compile(JSON.stringify(input), {
      import: (file) => {
        try {
          return { contents: readFileSync(path.join(modules, file), 'utf8') };
        } catch (error) {
          return { error: String(error) };
        }
      },
    }),
  );
  const contract = output.contracts?.['CofferToken.sol']?.CofferToken;
  if (contract === undefined) throw new Error(`solc: ${JSON.stringify(output.errors)}`);
  return { abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
}

// ---- JSON-RPC over HTTP(S) --------------------------------------------------------------------

/** A JSON-RPC endpoint: `call(method, params)` and `batch([[method, params], ...])`. */
function endpoint(url, agent) {
  let id = 0;
  const post = (body) =>
    new Promise((resolve, reject) => {
      const payload = Buffer.from(JSON.stringify(body));
      const send = new URL(url).protocol === 'https:' ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'content-length': payload.length },
          agent,
        },
        (res) => {
          const chunks = [];
          res.on('data', (part) => chunks.push(part));
          res.on('end', () => {
            try {
              resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });
  const unwrap = (answer, method) => {
    if (answer.error !== undefined) throw new Error(`${method}: ${answer.error.message}`);
    return answer.result;
  };
  return {
    call: async (method, params = []) =>
      unwrap(await post({ jsonrpc: '2.0', id: (id += 1), method, params }), method),
    /** Answers in request order; a failed request is its error object. */
    batch: async (requests) => {
      if (requests.length === 0) return [];
      const first = id + 1;
      const answers = await post(
        requests.map(([method, params]) => ({ jsonrpc: '2.0', id: (id += 1), method, params })),
      );
      const byId = new Map(answers.map((answer) => [answer.id, answer]));
      return requests.map((_, index) => byId.get(first + index));
    },
  };
}

async function receiptOf(rpc, hash, timeoutMs = phaseMsMax, everyMs = 5) {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const receipt = await rpc.call('eth_getTransactionReceipt', [hash]);
    if (receipt !== null) return receipt;
    if (performance.now() > deadline) throw new Error(`no receipt for ${hash}`);
    await sleep(everyMs);
  }
}

// ---- the workload -----------------------------------------------------------------------------

/**
 * Sends every sender's signed transfers (in nonce order, windowed) to its endpoint and reads
 * back when each was executed. `senders[i] = {rpc, address, firstNonce, raws}`.
 */
async function transferRun(senders, { rate } = {}) {
  const total = senders.reduce((sum, sender) => sum + sender.raws.length, 0);
  const executed = senders.map((sender) => sender.firstNonce);
  const sentAt = senders.map(() => []);
  const doneAt = senders.map(() => []);
  let last = 0;
  let stop = false;
  const byRpc = new Map();
  senders.forEach((sender, index) => {
    const list = byRpc.get(sender.rpc) ?? [];
    list.push(index);
    byRpc.set(sender.rpc, list);
  });
  const poll = async () => {
    while (!stop) {
      await Promise.all(
        [...byRpc].map(async ([rpc, indexes]) => {
          const answers = await rpc.batch(
            indexes.map((index) => ['eth_getTransactionCount', [senders[index].address, 'latest']]),
          );
          const now = performance.now();
          answers.forEach((answer, offset) => {
            const index = indexes[offset];
            const count = Number(BigInt(answer?.result ?? '0x0'));
            while (executed[index] < count) {
              const n = executed[index] - senders[index].firstNonce;
              if (n >= 0 && n < senders[index].raws.length) doneAt[index][n] = now;
              executed[index] += 1;
              last = now;
            }
          });
        }),
      );
      await sleep(pollMs);
    }
  };
  const first = performance.now();
  const poller = poll();
  /** Open loop at `rate` transfers/s over all senders: sender i's k-th at (k·n + i) / rate. */
  const paced = async (index) => {
    const sender = senders[index];
    for (let k = 0; k < sender.raws.length; k += 1) {
      if (stop) throw new Error(`transfers not all sent within ${phaseMsMax} ms`);
      const due = first + ((k * senders.length + index) * 1000) / rate;
      if (due > performance.now()) await sleep(due - performance.now());
      sentAt[index][k] = due;
      const answer = (await sender.rpc.batch([['eth_sendRawTransaction', [sender.raws[k]]]]))[0];
      if (answer?.result === undefined) {
        throw new Error(`sendRawTransaction refused: ${answer?.error?.message ?? 'no answer'}`);
      }
    }
  };
  const send = async (index) => {
    if (rate !== undefined) return paced(index);
    const sender = senders[index];
    let next = 0;
    while (next < sender.raws.length) {
      if (stop) throw new Error(`transfers not all sent within ${phaseMsMax} ms`);
      const outstanding = sender.firstNonce + next - executed[index];
      if (outstanding + chunk > window) {
        await sleep(pollMs / 2);
        continue;
      }
      const part = sender.raws.slice(next, next + chunk);
      const at = performance.now();
      const answers = await sender.rpc.batch(part.map((raw) => ['eth_sendRawTransaction', [raw]]));
      const refused = answers.findIndex((answer) => answer?.result === undefined);
      const accepted = refused === -1 ? part.length : refused;
      for (let k = 0; k < accepted; k += 1) sentAt[index][next + k] = at;
      next += accepted;
      if (refused !== -1) {
        const message = answers[refused]?.error?.message ?? 'no answer';
        // A full node (back-pressure) or a window the node counts differently: retry shortly.
        if (!/BACKPRESSURE|not yet executed|UNAVAILABLE/.test(message)) {
          throw new Error(`sendRawTransaction refused: ${message}`);
        }
        await sleep(pollMs);
      }
    }
  };
  const timer = setTimeout(() => {
    stop = true;
  }, phaseMsMax);
  try {
    await Promise.all(senders.map((_, index) => send(index)));
    while (
      senders.some((sender, index) => executed[index] < sender.firstNonce + sender.raws.length)
    ) {
      if (stop) throw new Error(`transfers not all executed within ${phaseMsMax} ms`);
      await sleep(pollMs);
    }
  } finally {
    stop = true;
    clearTimeout(timer);
    await poller;
  }
  const latencies = [];
  senders.forEach((sender, index) => {
    sender.raws.forEach((_, n) => latencies.push(doneAt[index][n] - sentAt[index][n]));
  });
  latencies.sort((a, b) => a - b);
  const seconds = (last - first) / 1000;
  return {
    transfers: total,
    seconds: round1(seconds),
    transfersPerSec: Math.round(total / seconds),
    loadedLatencyMs: {
      p50: round1(percentile(latencies, 50)),
      p99: round1(percentile(latencies, 99)),
    },
  };
}

/** BENCH_EVM_SERIAL pre-signed transfers one at a time; send → receipt. */
async function serialRun(rpc, raws) {
  const latencies = [];
  for (const raw of raws) {
    const at = performance.now();
    const hash = await rpc.call('eth_sendRawTransaction', [raw]);
    const receipt = await receiptOf(rpc, hash);
    latencies.push(performance.now() - at);
    if (receipt.status !== '0x1') throw new Error(`serial transfer ${hash} failed`);
  }
  latencies.sort((a, b) => a - b);
  return { p50: round1(percentile(latencies, 50)), p99: round1(percentile(latencies, 99)) };
}

/**
 * The whole workload, signed once for chain id 7331 (anvil runs with the same chain id), so
 * both chains run the very same transactions: the deployment (deployer nonce 0, hence the same
 * token address), the funding of every sender, the transfers, the serial transfers.
 */
async function signWorkload(compiled) {
  const iface = new Interface(compiled.abi);
  const chainId = defaultChainId;
  const sign = (wallet, nonce, request) =>
    wallet.signTransaction({
      type: 0,
      chainId,
      nonce,
      gasPrice: 0n,
      gasLimit: 3_000_000n,
      ...request,
    });
  const deployer = Wallet.createRandom();
  const wallets = Array.from({ length: nodes * sendersPerNode }, () => Wallet.createRandom());
  const address = getCreateAddress({ from: deployer.address, nonce: 0 });
  const deploy = await sign(deployer, 0, {
    data: `${compiled.bytecode}${iface.encodeDeploy([10n ** 24n]).slice(2)}`,
  });
  const funding = [];
  for (const [index, wallet] of wallets.entries()) {
    funding.push(
      await sign(deployer, 1 + index, {
        to: address,
        data: iface.encodeFunctionData('transfer', [wallet.address, 10n ** 20n]),
      }),
    );
  }
  const perSender = Math.floor(txTotal / wallets.length);
  const latencyPerSender = Math.ceil((latencyRate * latencySeconds) / wallets.length);
  const senders = [];
  for (const wallet of wallets) {
    const recipient = Wallet.createRandom().address;
    const raws = [];
    for (let n = 0; n < perSender; n += 1) {
      raws.push(
        await sign(wallet, n, {
          to: address,
          gasLimit: transferGas,
          data: iface.encodeFunctionData('transfer', [recipient, 1n]),
        }),
      );
    }
    const paced = [];
    for (let n = 0; n < latencyPerSender; n += 1) {
      paced.push(
        await sign(wallet, perSender + n, {
          to: address,
          gasLimit: transferGas,
          data: iface.encodeFunctionData('transfer', [recipient, 1n]),
        }),
      );
    }
    senders.push({ address: wallet.address, firstNonce: 0, raws, paced, recipient });
  }
  const serialRaws = [];
  for (let i = 0; i < serial; i += 1) {
    serialRaws.push(
      await sign(deployer, 1 + wallets.length + i, {
        to: address,
        gasLimit: transferGas,
        data: iface.encodeFunctionData('transfer', [deployer.address, 1n]),
      }),
    );
  }
  return { chainId, iface, address, deployer, wallets, deploy, funding, senders, serialRaws };
}

/** Deploys the token and funds the senders on one chain (through `rpc`). */
async function deployOn(rpc, workload) {
  const deployed = await receiptOf(
    rpc,
    await rpc.call('eth_sendRawTransaction', [workload.deploy]),
  );
  if (deployed.status !== '0x1') throw new Error('token deployment failed');
  for (let i = 0; i < workload.funding.length; i += chunk) {
    const answers = await rpc.batch(
      workload.funding.slice(i, i + chunk).map((raw) => ['eth_sendRawTransaction', [raw]]),
    );
    for (const answer of answers) {
      if (answer?.result === undefined)
        throw new Error(`funding refused: ${answer?.error?.message}`);
    }
    const last = answers.at(-1)?.result;
    if ((await receiptOf(rpc, last)).status !== '0x1') throw new Error('funding failed');
  }
}

// ---- Coffer ---------------------------------------------------------------------------------

/** The open-loop phase: every account's paced transfers at latencyRate/s over all of them. */
async function latencyRun(workload, rpcOf) {
  const senders = workload.senders.map((sender, index) => ({
    ...sender,
    rpc: rpcOf(index),
    firstNonce: sender.raws.length,
    raws: sender.paced,
  }));
  const run = await transferRun(senders, { rate: latencyRate });
  return { transfers: run.transfers, ...run.loadedLatencyMs };
}

/** Recipients' balances (eth_call balanceOf) summed, as `rpc` reports them. */
async function recipientsTotal(rpc, workload) {
  const answers = await rpc.batch(
    workload.senders.map((sender) => [
      'eth_call',
      [
        {
          to: workload.address,
          data: workload.iface.encodeFunctionData('balanceOf', [sender.recipient]),
        },
        'latest',
      ],
    ]),
  );
  return answers.reduce((sum, answer) => sum + BigInt(answer.result), 0n);
}

/** Waits until every node is healthy and has executed the same log position (60 s at most). */
async function networkSettled(nodesReady, logLine) {
  const clients = await Promise.all(nodesReady.map((node) => clientFromProfile(node.profile)));
  try {
    const deadline = performance.now() + phaseMsMax;
    for (;;) {
      const positions = await Promise.all(
        clients.map((client) => client.position().catch(() => undefined)),
      );
      const first = positions[0];
      if (
        first !== undefined &&
        positions.every(
          (item) =>
            item !== undefined &&
            item.logPosition === first.logPosition &&
            item.committedLogPosition === item.logPosition,
        )
      ) {
        return;
      }
      if (performance.now() > deadline) {
        throw new Error(`the nodes did not settle: ${JSON.stringify(positions)}`);
      }
      logLine(
        `waiting for the nodes to settle: ${JSON.stringify(positions.map((p) => p?.logPosition))}`,
      );
      await sleep(500);
    }
  } finally {
    for (const client of clients) client.close();
  }
}

async function benchCoffer(workload) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'coffer-bench-evm-'));
  const dir = path.join(tmp, 'net');
  let down = false;
  atCleanup(() => rmSync(tmp, { recursive: true, force: true }));
  atCleanup(() => {
    if (!down) networkDownSync(dir, log);
    down = true;
  });
  log(`coffer network up --nodes ${nodes}`);
  const ready = await networkUp(dir, nodes, log);
  log(`network ready: ${ready.nodes.map((node) => node.url).join(', ')}`);
  const agents = [];
  try {
    const rpcs = [];
    const orgs = [];
    for (const node of ready.nodes) {
      const profile = JSON.parse(readFileSync(node.profile, 'utf8'));
      const agent = new Agent({
        ca: readFileSync(profile.caFile, 'utf8'),
        cert: readFileSync(profile.tlsCertFile, 'utf8'),
        key: readFileSync(profile.tlsKeyFile, 'utf8'),
        servername: profile.servername,
        keepAlive: true,
        maxSockets: 16,
      });
      agents.push(agent);
      rpcs.push(endpoint(`${profile.url}/v1/evm/rpc`, agent));
      const { identity } = await identityFromMspFolder(profile.mspDir, profile.mspId);
      orgs.push({ profile: node.profile, mspId: profile.mspId, identityId: identity.certRef });
    }
    // A node that started late may have to catch up from a peer first (etcd compacts what a
    // majority holds): every node healthy and at the same position before the first request.
    await networkSettled(ready.nodes, log);
    const chainId = Number(BigInt(await rpcs[0].call('eth_chainId')));
    if (chainId !== workload.chainId) throw new Error(`the network's chain id is ${chainId}`);
    // Sender i belongs to organisation i mod 3 and sends through its node; Org1 has the deployer.
    const orgOf = (index) => index % nodes;
    log(`binding ${workload.wallets.length + 1} accounts`);
    await Promise.all(
      orgs.map(async (org, o) => {
        const client = await clientFromProfile(org.profile);
        try {
          const mine = [
            ...(o === 0 ? [workload.deployer] : []),
            ...workload.wallets.filter((_, i) => orgOf(i) === o),
          ];
          for (const wallet of mine) {
            const signature = await wallet.signMessage(
              bindingMessage(chainId, wallet.address, org.mspId, org.identityId),
            );
            const bound = await client.submit(
              'evm',
              'bind',
              { address: wallet.address, signature },
              { wait: 'commit' },
            );
            if (bound.status !== 'Committed')
              throw new Error(`bind: ${bound.code} ${bound.message}`);
          }
        } finally {
          client.close();
        }
      }),
    );
    log('deploying the token and funding the senders');
    await deployOn(rpcs[0], workload);
    const senders = workload.senders.map((sender, index) => ({
      ...sender,
      rpc: rpcs[orgOf(index)],
    }));
    log(`sending ${txTotal} transfers from ${senders.length} accounts over ${nodes} nodes`);
    const run = await transferRun(senders);
    log(
      `coffer: ${run.transfersPerSec} transfers/s, loaded p50 ${run.loadedLatencyMs.p50} ms p99 ${run.loadedLatencyMs.p99} ms`,
    );
    const openLoop = await latencyRun(workload, (index) => rpcs[orgOf(index)]);
    log(`coffer at ${latencyRate}/s: p50 ${openLoop.p50} ms p99 ${openLoop.p99} ms`);
    const unloaded = await serialRun(rpcs[0], workload.serialRaws);
    log(`coffer unloaded latency p50 ${unloaded.p50} ms p99 ${unloaded.p99} ms`);
    // Every node holds the balances the transfers made.
    const expected = BigInt(run.transfers + openLoop.transfers);
    const totals = await Promise.all(rpcs.map((rpc) => recipientsTotal(rpc, workload)));
    const nodesAgree = totals.every((total) => total === expected);
    if (!nodesAgree)
      log(`recipients' balances by node: ${totals.join(', ')} (expected ${expected})`);
    return {
      nodes,
      accounts: senders.length,
      ...run,
      latencyAtRateMs: { rate: latencyRate, p50: openLoop.p50, p99: openLoop.p99 },
      unloadedLatencyMs: unloaded,
      nodesAgree,
    };
  } finally {
    for (const agent of agents) agent.destroy();
    networkDownSync(dir, log);
    down = true;
  }
}

// ---- anvil ----------------------------------------------------------------------------------

async function benchAnvil(workload) {
  const port = await freePort();
  const bin = path.join(repoRoot, 'node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil');
  // Coffer's chain id and gas price 0: the same signed transactions run unchanged.
  const args = ['--host', '127.0.0.1', '--port', String(port), '--silent'];
  args.push('--chain-id', String(workload.chainId), '--base-fee', '0', '--gas-price', '0');
  const child = track(spawn(bin, args, { stdio: ['ignore', 'ignore', 'inherit'] }));
  atCleanup(() => child.kill('SIGKILL'));
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 16 });
  try {
    const rpc = endpoint(`http://127.0.0.1:${port}`, agent);
    for (let i = 0; ; i += 1) {
      try {
        await rpc.call('eth_chainId');
        break;
      } catch (error) {
        if (i > 300) throw error;
        await sleep(50);
      }
    }
    await deployOn(rpc, workload);
    const senders = workload.senders.map((sender) => ({ ...sender, rpc }));
    log(`anvil: sending ${txTotal} transfers`);
    const run = await transferRun(senders);
    log(
      `anvil: ${run.transfersPerSec} transfers/s, loaded p50 ${run.loadedLatencyMs.p50} ms p99 ${run.loadedLatencyMs.p99} ms`,
    );
    const openLoop = await latencyRun(workload, () => rpc);
    log(`anvil at ${latencyRate}/s: p50 ${openLoop.p50} ms p99 ${openLoop.p99} ms`);
    const unloaded = await serialRun(rpc, workload.serialRaws);
    log(`anvil unloaded latency p50 ${unloaded.p50} ms p99 ${unloaded.p99} ms`);
    const total = await recipientsTotal(rpc, workload);
    if (total !== BigInt(run.transfers + openLoop.transfers))
      throw new Error(`anvil recipients hold ${total}`);
    return {
      accounts: senders.length,
      ...run,
      latencyAtRateMs: { rate: latencyRate, p50: openLoop.p50, p99: openLoop.p99 },
      unloadedLatencyMs: unloaded,
    };
  } finally {
    agent.destroy();
    child.kill('SIGKILL');
  }
}

try {
  const loadAverage = round1(os.loadavg()[0]);
  const workload = await signWorkload(compileToken());
  log(`signed ${txTotal} transfers from ${workload.wallets.length} accounts`);
  const coffer = await benchCoffer(workload);
  const anvil = await benchAnvil(workload);
  process.stdout.write(
    `${JSON.stringify({ coffer, anvil, loadAverage, cpus: os.availableParallelism() })}\n`,
  );
} catch (error) {
  log(`failed: ${error?.stack ?? error}`);
  cleanupSync();
  process.exit(1);
}
cleanupSync();
