// Load generator of the ledger benchmark (bench/ledger.mjs), a separate process so that its CPU
// is not the node's. Driven over the IPC channel of child_process.fork: each message
// { id, cmd, ...args } gets one reply { id, ok: true, result } or { id, ok: false, error }.
//
//   init       { profile }                     read client.json; SDK client + a keep-alive agent;
//                                              one kv put through the SDK (submit, wait commit)
//   throughput { count, batchSize, inFlight, warmup, prefix, sendCert }
//              signs `count` envelopes first (not timed), then POSTs /v1/tx/batch bodies with
//              `inFlight` calls at a time, re-sends what the node refused with backpressure,
//              and waits (GET /v1/tx/:id?wait=commit) for the last transaction of every call;
//              the node executes its queue in order, so that one committing means the call's
//              earlier ones did too. Time: first send to last commit.
//   latency    { rate, seconds, warmupSeconds, prefix, sendCert, batchMs }
//              open loop: one POST /v1/tx?wait=commit every 1/rate s at fixed times, whether
//              or not earlier ones returned; latency from the scheduled send to the answer.
//              batchMs > 0: every batchMs, what is due goes as one POST /v1/tx/batch?wait=commit
//              (latency still from each transaction's own scheduled time).
//   nodeMetrics { fromEpochMs, toEpochMs }
//              the node's own per-second figures over that window (GET /v1/explorer/metrics):
//              transactions executed and the p50/p99 of accept → execute, measured by the node
//              from a submission's verified signature to its batch executed
//   prepare, warmup, send, sample; latencyPrepare, latencyRun
//              the same phases split (signing apart from sending), so that the load
//              generators of a network run (bench/lib/network.mjs) send at the same time
//   exit
//
// Envelopes are signed by worker threads (sign-worker.mjs) with the profile's identity.
import { Buffer } from 'node:buffer';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { Agent, request as httpsRequest } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { setTimeout } from 'node:timers';
import { setTimeout as sleep } from 'node:timers/promises';
import { URL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createClient, identityFromMspFolder } from '../../dist/client/index.js';

const benchMap = 'public:kv.bench';
/** Requests are signed to expire this long after signing (the node accepts at most 120 s). */
const ttlMs = 115_000;
/** Longest wait for a commit in one long poll (the API's maximum). */
const waitMs = 30_000;
/** Sockets of the agent for batches and status polls. */
const socketsMax = 256;
/**
 * Transactions sent but not yet known committed, at most: the node refuses more than 20,000
 * pending (engine.ts counts an envelope still in its ordering queue twice, so refusals start
 * near 10,000); kept below, the node stays busy without refusing and re-parsing envelopes.
 */
const outstandingMax = 9_000;
/** An Unknown status is asked again this often (waitCommit with unknownWaitMs). */
const unknownPollMs = 250;
/** Open-loop latency: connections opened before the clock starts, ~100 ms of requests. */
const latencySocketsMin = 16;
const latencySocketsMax = 256;
/** Coalesced latency runs: the most transactions in one batch call (the node takes 2,000). */
const batchTxMax = 1000;
const batchHead = Buffer.from('{"envelopes":[');
const comma = Buffer.from(',');
const batchTail = Buffer.from(']}');

let state;

function log(line) {
  process.stderr.write(`loadgen: ${line}\n`);
}

async function keyPemFor(mspDir, certPem) {
  const wanted = new X509Certificate(certPem).publicKey.export({ format: 'der', type: 'spki' });
  const keystore = path.join(mspDir, 'keystore');
  for (const name of await readdir(keystore)) {
    const pem = await readFile(path.join(keystore, name), 'utf8');
    try {
      const spki = createPublicKey(createPrivateKey(pem)).export({ format: 'der', type: 'spki' });
      if (spki.equals(wanted)) return pem;
    } catch {
      // not a key
    }
  }
  throw new Error(`no key in ${keystore} matches the signing certificate`);
}

async function init({ profile: profileFile }) {
  const profile = JSON.parse(await readFile(profileFile, 'utf8'));
  const { identity, signer } = await identityFromMspFolder(profile.mspDir, profile.mspId);
  const tls = {
    ca: await readFile(profile.caFile, 'utf8'),
    cert: await readFile(profile.tlsCertFile, 'utf8'),
    key: await readFile(profile.tlsKeyFile, 'utf8'),
  };
  const client = createClient({
    url: profile.url,
    servername: profile.servername,
    ca: tls.ca,
    tlsCert: tls.cert,
    tlsKey: tls.key,
    identity,
    signer,
  });
  const agentOptions = { keepAlive: true, servername: profile.servername, ...tls };
  state = {
    url: new URL(profile.url),
    agent: new Agent({ ...agentOptions, maxSockets: socketsMax }),
    agentOptions,
    client,
    identity,
    keyPem: await keyPemFor(profile.mspDir, identity.certPem),
  };
  // The SDK path end to end (noble signer, submit, wait): also makes the ledger know the cert.
  const first = await client.submit(
    'kv',
    'put',
    { map: benchMap, key: 'sdk-check', value: 'ok' },
    { wait: 'commit' },
  );
  if (first.status !== 'Committed') throw new Error(`SDK submit: ${JSON.stringify(first)}`);
  return { sdkCheckSeqno: first.seqno };
}

/** One HTTPS call on the shared agent; resolves with status and parsed JSON, never rejects on HTTP status. */
function call(method, pathAndQuery, body, agent = state.agent) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        protocol: 'https:',
        hostname: state.url.hostname,
        port: state.url.port,
        path: pathAndQuery,
        method,
        agent,
        timeout: waitMs + 30_000,
        headers:
          body === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': body.length },
      },
      (res) => {
        const chunks = [];
        res.on('data', (chunk) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json;
          try {
            json = text.length === 0 ? undefined : JSON.parse(text);
          } catch {
            json = text;
          }
          const retry = res.headers['retry-after'];
          resolve({
            status: res.statusCode ?? 0,
            json,
            retryAfterMs: retry === undefined ? undefined : Number(retry) * 1000,
          });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${pathAndQuery}: timeout`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Signs `count` envelopes on worker threads; returns { txIds, bodies, ms }. `sendCert`: 'always',
 * 'never', or 'until-known' (as the SDK client: until one of its transactions committed).
 */
async function signMany(count, prefix, sendCert) {
  const started = performance.now();
  const withCert =
    sendCert === 'always' || (sendCert === 'until-known' && !state.client.certKnown());
  const workers = Math.max(1, Math.min(os.availableParallelism(), 4));
  const share = Math.ceil(count / workers);
  const expiresAt = Date.now() + ttlMs;
  const parts = await Promise.all(
    Array.from({ length: workers }, (_, index) => {
      const start = index * share;
      const n = Math.max(0, Math.min(share, count - start));
      return new Promise((resolve, reject) => {
        const worker = new Worker(new URL('./sign-worker.mjs', import.meta.url), {
          workerData: {
            keyPem: state.keyPem,
            mspId: state.identity.mspId,
            certPem: state.identity.certPem,
            certRef: state.identity.certRef,
            map: benchMap,
            prefix,
            start,
            count: n,
            expiresAt,
            sendCert: withCert,
          },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    }),
  );
  const txIds = parts.flatMap((part) => part.txIds);
  const bodies = parts.flatMap((part) => part.bodies);
  return { txIds, bodies, ms: performance.now() - started, expiresAt };
}

/** Tells the benchmark a phase starts or ends (it reads both processes' CPU use then). */
function mark(name) {
  reply({ mark: name });
}

/** Sends to the benchmark unless it is gone (it stops load generators still sending). */
function reply(message) {
  if (process.connected) process.send(message);
}

function countInto(counts, key, amount = 1) {
  counts[key] = (counts[key] ?? 0) + amount;
}

/** Waits until a transaction is Committed or Invalid (re-polling while Pending). */
/**
 * Waits until a transaction is Committed or Invalid (re-polling while Pending). With
 * `unknownWaitMs` > 0, an Unknown status (a network node whose ordering refused the batch, or
 * timed out on it) is asked again every unknownPollMs for that long, then returned as is.
 */
async function waitCommit(txId, unknownWaitMs = 0) {
  const deadline = performance.now() + unknownWaitMs;
  for (;;) {
    const answer = await call('GET', `/v1/tx/${txId}?wait=commit&timeoutMs=${waitMs}`);
    const status = answer.json?.status;
    if (status === 'Committed' || status === 'Invalid') return answer.json;
    if (status === 'Unknown' && unknownWaitMs > 0) {
      if (performance.now() > deadline) return answer.json;
      await sleep(unknownPollMs);
      continue;
    }
    if (status !== 'Pending') throw new Error(`status of ${txId}: ${JSON.stringify(answer.json)}`);
  }
}

async function sendBatches(
  signed,
  { batchSize, inFlight, sendMsMax = Infinity, outstanding = outstandingMax, unknownWaitMs = 0 },
) {
  const { txIds, bodies } = signed;
  const queue = [];
  for (let start = 0; start < bodies.length; start += batchSize) {
    const indexes = Array.from(
      { length: Math.min(batchSize, bodies.length - start) },
      (_, k) => start + k,
    );
    queue.push({
      indexes,
      body: Buffer.from(`{"envelopes":[${indexes.map((i) => bodies[i]).join(',')}]}`),
    });
  }
  const retry = [];
  const refused = {};
  const commitWaits = [];
  const statuses = {};
  let lastCommitAt = 0;
  let maxSeqno = 0;
  let accepted = 0;
  let backpressure = 0;
  let httpRetries = 0;
  let calls = 0;
  let lastAcceptedAt = 0;
  let confirmed = 0;
  let windowWaits = 0;

  let cutOff = false;
  const next = async () => {
    if (performance.now() - started > sendMsMax) {
      // Out of time: what is left is not sent (and not counted).
      cutOff = cutOff || queue.length > 0 || retry.length > 0;
      queue.length = 0;
      retry.length = 0;
      return undefined;
    }
    if (queue.length > 0) return queue.shift();
    if (retry.length === 0) return undefined;
    await sleep(20);
    const indexes = retry.splice(0, batchSize);
    if (indexes.length === 0) return undefined;
    return {
      indexes,
      body: Buffer.from(`{"envelopes":[${indexes.map((i) => bodies[i]).join(',')}]}`),
    };
  };

  const started = performance.now();
  let active = 0;
  const sender = async () => {
    for (;;) {
      const item = await next();
      if (item === undefined) {
        // Others may still get backpressure refusals to re-send: wait for them.
        if (active === 0 && retry.length === 0) return;
        await sleep(5);
        continue;
      }
      active += 1;
      try {
        if (accepted - confirmed + item.indexes.length > outstanding) windowWaits += 1;
        while (accepted - confirmed + item.indexes.length > outstanding) await sleep(2);
        calls += 1;
        const answer = await call('POST', '/v1/tx/batch', item.body);
        if (answer.status !== 200) {
          httpRetries += 1;
          countInto(refused, `HTTP ${answer.status} ${answer.json?.error?.code ?? ''}`.trim());
          await sleep(answer.retryAfterMs ?? 50);
          queue.unshift(item);
          continue;
        }
        let lastTxId;
        let callAccepted = 0;
        answer.json.results.forEach((result, k) => {
          const index = item.indexes[k];
          if (result.txId !== undefined) {
            accepted += 1;
            callAccepted += 1;
            lastTxId = result.txId;
          } else if (result.error?.code === 'NODE_E_BACKPRESSURE') {
            backpressure += 1;
            retry.push(index);
          } else {
            countInto(refused, result.error?.code ?? 'unknown');
          }
        });
        lastAcceptedAt = performance.now();
        if (lastTxId !== undefined) {
          commitWaits.push(
            waitCommit(lastTxId, unknownWaitMs).then((status) => {
              confirmed += callAccepted;
              countInto(statuses, status.status);
              if (status.status === 'Unknown') return; // counted by the caller's full check
              lastCommitAt = Math.max(lastCommitAt, performance.now());
              maxSeqno = Math.max(maxSeqno, status.seqno ?? 0);
            }),
          );
        }
      } finally {
        active -= 1;
      }
    }
  };
  await Promise.all(Array.from({ length: inFlight }, sender));
  const sentMs = lastAcceptedAt - started;
  await Promise.all(commitWaits);
  const ms = lastCommitAt - started;
  return {
    count: txIds.length,
    accepted,
    cutOff,
    refused,
    backpressureRefusals: backpressure,
    httpRetries,
    windowWaits,
    calls,
    ms,
    sentMs,
    lastOfCallStatuses: statuses,
    // For runs over several load generators (bench/lib/network.mjs): one clock for all.
    startedAtEpochMs: performance.timeOrigin + started,
    lastCommitAtEpochMs: performance.timeOrigin + lastCommitAt,
    maxSeqno,
  };
}

/** Statuses of a random sample of transactions: are they all Committed? */
async function sampleStatuses(txIds, size) {
  const counts = {};
  const picks = Array.from(
    { length: Math.min(size, txIds.length) },
    () => txIds[Math.floor(Math.random() * txIds.length)],
  );
  for (let k = 0; k < picks.length; k += 64) {
    const answers = await Promise.all(
      picks.slice(k, k + 64).map((txId) => call('GET', `/v1/tx/${txId}`)),
    );
    for (const answer of answers) countInto(counts, answer.json?.status ?? `HTTP ${answer.status}`);
  }
  return counts;
}

async function throughput({ count, batchSize, inFlight, sendMsMax, warmup, prefix, sendCert }) {
  let warmupAccepted = 0;
  if (warmup > 0) {
    const warm = await signMany(warmup, `${prefix}-warmup`, sendCert);
    const outcome = await sendBatches(warm, { batchSize, inFlight });
    warmupAccepted = outcome.accepted;
    log(`warm-up: ${outcome.accepted} transactions in ${outcome.ms.toFixed(0)} ms`);
  }
  const signed = await signMany(count, prefix, sendCert);
  const signPerSec = Math.round((count * 1000) / signed.ms);
  log(`signed ${count} envelopes in ${signed.ms.toFixed(0)} ms (${signPerSec}/s); sending`);
  const positionBefore = await state.client.position();
  mark('send-start');
  const outcome = await sendBatches(signed, { batchSize, inFlight, sendMsMax });
  mark('send-end');
  const positionAfter = await state.client.position();
  const sample = await sampleStatuses(signed.txIds, 1000);
  const bytes = signed.bodies.reduce((sum, body) => sum + body.length, 0);
  return {
    ...outcome,
    warmupAccepted,
    signMs: Math.round(signed.ms),
    signPerSec,
    envelopeJsonBytes: Math.round(bytes / count),
    seqnoBefore: positionBefore.seqno,
    seqnoAfter: positionAfter.seqno,
    sampleStatuses: sample,
  };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return Math.round(sorted[Math.max(0, index)] * 10) / 10;
}

/** Signs the requests of an open-loop latency run: one per 1/rate s. */
async function signLatency({ rate, seconds, warmupSeconds, prefix, sendCert }) {
  const count = Math.max(1, Math.round(rate * (seconds + warmupSeconds)));
  const signed = await signMany(count, prefix, sendCert);
  log(`signed ${count} envelopes in ${signed.ms.toFixed(0)} ms; offering ${rate} tx/s`);
  return signed.bodies.map((body) => Buffer.from(body));
}

/**
 * The open-loop run over signed bodies. `startAtEpochMs` (optional) is when the first request
 * is scheduled, on the wall clock (several load generators start together); `returnSamples`
 * adds every measured latency (ms, sorted) to the result.
 */
async function runLatency(
  bodies,
  { rate, warmupSeconds, drainMsMax, startAtEpochMs, returnSamples = false, batchMs = 0 },
) {
  const count = bodies.length;
  // Connections are opened before the clock starts: TLS handshakes (an ECDSA signature and
  // verifications on both sides) would otherwise be measured, and feed on rising latency.
  const sockets = Math.min(latencySocketsMax, Math.max(latencySocketsMin, Math.ceil(rate / 10)));
  const agent = new Agent({ ...state.agentOptions, maxSockets: sockets, maxFreeSockets: sockets });
  await Promise.all(
    Array.from({ length: sockets }, () => call('GET', '/v1/health', undefined, agent)),
  );
  const interval = 1000 / rate;
  const samples = [];
  /** Worst latency of the requests scheduled in each second (ms), to see bursts over time. */
  const worstBySecond = [];
  const failures = {};
  let committed = 0;
  let maxSendLagMs = 0;
  let inFlight = 0;
  let inFlightMax = 0;
  mark('latency-start');
  const t0 = Math.max(
    performance.now() + 20,
    startAtEpochMs === undefined ? 0 : startAtEpochMs - performance.timeOrigin,
  );
  const measuredFrom = t0 + warmupSeconds * 1000;
  const pending = [];
  let finished = false;
  /** One answer for the transactions scheduled at `scheduledTimes`: samples or failures. */
  const settle = (scheduledTimes, outcomes) => {
    const answeredAt = performance.now();
    scheduledTimes.forEach((scheduled, k) => {
      const outcome = outcomes[k];
      if (outcome?.status !== 'Committed') {
        countInto(failures, outcome?.error?.code ?? outcome?.status ?? 'no answer');
        return;
      }
      committed += 1;
      if (scheduled < measuredFrom) return;
      const elapsed = answeredAt - scheduled;
      samples.push(elapsed);
      const second = Math.floor((scheduled - measuredFrom) / 1000);
      worstBySecond[second] = Math.max(worstBySecond[second] ?? 0, Math.round(elapsed));
    });
  };
  /** Sends the transactions first..end-1: one POST /v1/tx, or one batch when coalescing. */
  const fire = (first, end) => {
    const scheduledTimes = [];
    for (let index = first; index < end; index += 1) scheduledTimes.push(t0 + index * interval);
    maxSendLagMs = Math.max(maxSendLagMs, performance.now() - scheduledTimes[0]);
    inFlight += end - first;
    inFlightMax = Math.max(inFlightMax, inFlight);
    const request =
      batchMs === 0
        ? call('POST', `/v1/tx?wait=commit&timeoutMs=${waitMs}`, bodies[first], agent).then(
            (answer) => [answer.json ?? { status: answer.status }],
          )
        : call(
            'POST',
            `/v1/tx/batch?wait=commit&timeoutMs=${waitMs}`,
            Buffer.concat([
              batchHead,
              ...bodies.slice(first, end).flatMap((body, k) => (k === 0 ? [body] : [comma, body])),
              batchTail,
            ]),
            agent,
          ).then((answer) =>
            answer.status === 200
              ? answer.json.results
              : scheduledTimes.map(() => answer.json ?? { status: answer.status }),
          );
    pending.push(
      request.then(
        (outcomes) => {
          inFlight -= end - first;
          if (!finished) settle(scheduledTimes, outcomes);
        },
        (error) => {
          inFlight -= end - first;
          if (!finished) countInto(failures, String(error.message).slice(0, 60), end - first);
        },
      ),
    );
  };
  await new Promise((resolve) => {
    let next = 0;
    const tick = () => {
      const now = performance.now();
      if (batchMs === 0) {
        while (next < count && t0 + next * interval <= now) {
          fire(next, next + 1);
          next += 1;
        }
      } else {
        // Everything due since the last tick, as a client that batches its sends would send it.
        while (next < count && t0 + next * interval <= now) {
          let end = next + 1;
          while (end < count && end - next < batchTxMax && t0 + end * interval <= now) end += 1;
          fire(next, end);
          next = end;
        }
      }
      const wait = batchMs === 0 ? Math.min(1, t0 + next * interval - now) : batchMs;
      if (next < count) setTimeout(tick, Math.max(0, wait));
      else resolve();
    };
    setTimeout(tick, 20);
  });
  const sendMs = performance.now() - t0;
  // Answers still missing after drainMsMax count as failures ("unfinished"), not samples.
  const allDone = Promise.all(pending).then(() => true);
  const done = await Promise.race([
    allDone,
    sleep(drainMsMax, undefined, { ref: false }).then(() => false),
  ]);
  finished = true;
  if (!done) failures.unfinished = inFlight;
  mark('latency-end');
  agent.destroy();
  samples.sort((a, b) => a - b);
  return {
    offeredTxPerSec: rate,
    sentInMs: Math.round(sendMs),
    samples: samples.length,
    committed,
    warmupSeconds,
    p50Ms: percentile(samples, 50),
    p90Ms: percentile(samples, 90),
    p99Ms: percentile(samples, 99),
    maxMs: percentile(samples, 100),
    failures,
    inFlightMax,
    sockets,
    maxSendLagMs: Math.round(maxSendLagMs * 10) / 10,
    measuredFromEpochMs: Math.round(performance.timeOrigin + measuredFrom),
    sentUntilEpochMs: Math.round(performance.timeOrigin + t0 + sendMs),
    worstMsBySecond: Array.from(worstBySecond, (ms) => ms ?? null),
    ...(returnSamples ? { sampleMs: samples.map((ms) => Math.round(ms * 10) / 10) } : {}),
  };
}

async function latency(args) {
  return runLatency(await signLatency(args), args);
}

/** The node's explorer metrics for the whole seconds from fromEpochMs to toEpochMs (the API keeps 600). */
async function nodeMetrics({ fromEpochMs, toEpochMs }) {
  const from = Math.ceil(fromEpochMs / 1000);
  const to = Math.floor(toEpochMs / 1000) - 1;
  const seconds = Math.max(1, Math.min(600, Math.floor(Date.now() / 1000) - from + 1));
  const answer = await call('GET', `/v1/explorer/metrics?seconds=${seconds}`);
  if (answer.status !== 200) throw new Error(`explorer metrics: ${JSON.stringify(answer.json)}`);
  return answer.json.points.filter((point) => point.t >= from && point.t <= to);
}

// ---- split phases, for several load generators started together (bench/lib/network.mjs) ----

let prepared;
let preparedLatency;

/** Signs the warm-up and measured transactions of a throughput run, to send later. */
async function prepare({ count, warmup, prefix, sendCert }) {
  const warm = warmup > 0 ? await signMany(warmup, `${prefix}-warmup`, sendCert) : undefined;
  const signed = await signMany(count, prefix, sendCert);
  const bytes = signed.bodies.reduce((sum, body) => sum + body.length, 0);
  prepared = { warm, signed };
  return {
    signMs: Math.round(signed.ms),
    signPerSec: Math.round((count * 1000) / signed.ms),
    envelopeJsonBytes: Math.round(bytes / Math.max(1, count)),
    sampleEnvelope: signed.bodies[0],
  };
}

async function warmup({ batchSize, inFlight }) {
  if (prepared?.warm === undefined) return { accepted: 0, ms: 0 };
  const outcome = await sendBatches(prepared.warm, { batchSize, inFlight });
  prepared.warm = undefined;
  return { accepted: outcome.accepted, ms: Math.round(outcome.ms) };
}

let sentTxIds = [];

/**
 * Sends what `prepare` signed, with at most `outstanding` transactions not yet known
 * committed; an Unknown outcome is asked again for `unknownWaitMs`, then counted as such.
 */
async function send({ batchSize, inFlight, sendMsMax, outstanding, unknownWaitMs }) {
  if (prepared === undefined) throw new Error('send before prepare');
  const { signed } = prepared;
  prepared = undefined;
  sentTxIds = signed.txIds;
  return sendBatches(signed, { batchSize, inFlight, sendMsMax, outstanding, unknownWaitMs });
}

/** Statuses of a random sample of what `send` sent (`size`: 0 for all of them), on this node. */
async function sample({ size }) {
  if (size > 0) return sampleStatuses(sentTxIds, size);
  const counts = {};
  for (let k = 0; k < sentTxIds.length; k += 64) {
    const answers = await Promise.all(
      sentTxIds.slice(k, k + 64).map((txId) => call('GET', `/v1/tx/${txId}`)),
    );
    for (const answer of answers) countInto(counts, answer.json?.status ?? `HTTP ${answer.status}`);
  }
  return counts;
}

async function latencyPrepare(args) {
  preparedLatency = await signLatency(args);
  return { count: preparedLatency.length };
}

async function latencyRun(args) {
  if (preparedLatency === undefined) throw new Error('latencyRun before latencyPrepare');
  const bodies = preparedLatency;
  preparedLatency = undefined;
  return runLatency(bodies, { ...args, returnSamples: true });
}

const commands = {
  init,
  throughput,
  latency,
  nodeMetrics,
  prepare,
  warmup,
  send,
  sample,
  latencyPrepare,
  latencyRun,
};

process.on('message', (message) => {
  const { id, cmd } = message;
  if (cmd === 'exit') {
    state?.agent.destroy();
    state?.client.close();
    process.disconnect();
    return;
  }
  const handler = commands[cmd];
  const run =
    handler === undefined ? Promise.reject(new Error(`unknown ${cmd}`)) : handler(message);
  run.then(
    (result) => reply({ id, ok: true, result }),
    (error) => reply({ id, ok: false, error: String(error?.stack ?? error) }),
  );
});
