// Plain etcd puts for the network ledger benchmark (bench/lib/network.mjs), in a process of its
// own so that its CPU is not the benchmark's: the same cluster, the same TLS identity as a
// Coffer node (mutual TLS), values of the size of Coffer's batches. Driven over IPC like the
// load generator: { id, cmd, ...args } → { id, ok, result | error }.
//
//   init { endpoints, caFile, certFile, keyFile, clients }
//        `clients` etcd3 clients, each over all endpoints, as each Coffer node has one
//   run  { valueBytes, inFlightPerClient, seconds, prefix }
//        every client keeps `inFlightPerClient` puts of distinct keys in flight for `seconds`;
//        returns puts, puts/s, MB/s and p50/p99 latency of one put
//   exit
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { Etcd3 } from 'etcd3';
import { percentile } from './procs.mjs';

/** gRPC message limit of these clients: above the largest batch (4 MiB) plus framing. */
const messageBytesMax = 8 * 1024 * 1024;
/** Deadline of one put. */
const putTimeoutMs = 10_000;

let clients = [];

async function init({ endpoints, caFile, certFile, keyFile, clients: count }) {
  const credentials = {
    rootCertificate: await readFile(caFile),
    certChain: await readFile(certFile),
    privateKey: await readFile(keyFile),
  };
  clients = Array.from(
    { length: count },
    () =>
      new Etcd3({
        hosts: [...endpoints],
        credentials,
        grpcOptions: {
          'grpc.max_receive_message_length': messageBytesMax,
          'grpc.max_send_message_length': messageBytesMax,
        },
        defaultCallOptions: (context) =>
          context.isStream ? {} : { deadline: Date.now() + putTimeoutMs },
      }),
  );
  // Connections and TLS handshakes before any clock starts.
  await Promise.all(clients.map((client) => client.get('/bench/plain/none').string()));
  return { clients: clients.length };
}

async function run({ valueBytes, inFlightPerClient, seconds, prefix }) {
  const value = randomBytes(valueBytes);
  const latencies = [];
  let errors = 0;
  let n = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const worker = async (client) => {
    while (performance.now() < deadline) {
      n += 1;
      const key = `${prefix}/${n}`;
      const t = performance.now();
      try {
        await client.put(key).value(value);
        latencies.push(performance.now() - t);
      } catch {
        errors += 1;
      }
    }
  };
  await Promise.all(
    clients.flatMap((client) => Array.from({ length: inFlightPerClient }, () => worker(client))),
  );
  const ms = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return {
    valueBytes,
    clients: clients.length,
    inFlightPerClient,
    puts: latencies.length,
    errors,
    ms: Math.round(ms),
    putsPerSec: Math.round((latencies.length * 1000) / ms),
    mbPerSec: Math.round((latencies.length * valueBytes) / ms / 100) / 10,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
  };
}

const commands = { init, run };

process.on('message', (message) => {
  const { id, cmd } = message;
  if (cmd === 'exit') {
    for (const client of clients) client.close();
    process.disconnect();
    return;
  }
  const handler = commands[cmd];
  const result =
    handler === undefined ? Promise.reject(new Error(`unknown ${cmd}`)) : handler(message);
  result.then(
    (value) => process.send({ id, ok: true, result: value }),
    (error) => process.send({ id, ok: false, error: String(error?.stack ?? error) }),
  );
});
