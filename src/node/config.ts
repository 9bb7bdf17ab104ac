// A node's configuration file (JSON). Paths are relative to the file's folder.
import { nodeUrlPattern } from '../governance/index.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { availableParallelism } from 'node:os';
import { verifyPoolLimits } from '../crypto/index.js';
import { cofferError } from '../errors/index.js';
import { resolveEtcdLimits, type EtcdLimitOptions } from '../ordering/index.js';
import { pendingEnvelopesMax } from './engine.js';
import { heapGrowthPercentMax, heapGrowthPercentMin } from './memory.js';
import { sessionLimitsDefault, sessionsMaxAllowed, type SessionLimits } from './sessions.js';

export type NodeConfig = {
  readonly nodeId: string;
  readonly dataDir: string;
  readonly listen: { readonly host: string; readonly port: number };
  /**
   * The web console's listener (decision 0026): TLS with an optional client certificate, where
   * people sign in with a key store unlocked in the page. Absent: the console is served on the
   * API listener only (mutual TLS).
   */
  readonly console?: { readonly host: string; readonly port: number };
  readonly tls: { readonly certFile: string; readonly keyFile: string };
  /** The node's own MSP identity (a peer): signs Merkle roots. */
  readonly identity: { readonly mspId: string; readonly mspDir: string };
  /** Every member organisation's verifying MSP folder. */
  readonly consortium: readonly { readonly mspId: string; readonly mspDir: string }[];
  /**
   * When the node appends a signature entry: after this many entries, or this long after the
   * last. With a genesis file the ledger's settings (set_settings) apply instead: every node
   * must place signature entries alike for their Merkle roots to agree.
   */
  readonly signatureIntervalTx: number;
  readonly signatureIntervalMs: number;
  /**
   * Entries between snapshots (they only shorten restarts, so each node may choose); unset:
   * the governed settings' value, else 100,000.
   */
  readonly snapshotIntervalTx?: number;
  /** Transactions accepted but not yet executed; beyond this, submissions get HTTP 429. */
  readonly pendingMax: number;
  /** Worker threads verifying submissions' signatures; 0: the main thread does (decision 0010). */
  readonly verifyThreads: number;
  /**
   * Open connections each listener takes (decision 0040): past softMax a new one is answered
   * HTTP 503 NODE_E_TOO_MANY_SESSIONS and closed, past hardMax closed at once. Unset: 1000/1100.
   */
  readonly sessions?: SessionLimits;
  /**
   * Sets glibc's allocator for a long-running process and returns freed heap pages every 30 s
   * (decision 0028); default true. False leaves the allocator's defaults.
   */
  readonly mallocTuning?: boolean;
  /**
   * How far V8's heap grows past what survived a full collection before the next one, in
   * percent (decision 0028); default 0, V8's own choice (else 10 to 300).
   */
  readonly heapGrowthPercent?: number;
  /** Where batches are ordered: the embedded single-node log (default) or the network's etcd. */
  readonly ordering: OrderingConfig;
  /**
   * The consortium's genesis configuration (`coffer network init`): with it, the consortium's
   * MSPs, members, nodes and code ids live in the ledger and change by governance; `consortium`
   * is then only the first start's fallback check. Absent: `consortium` is fixed.
   */
  readonly genesisFile?: string;
  /** The network's shared ledger secret file; absent: the node's own (single-node ledger). */
  readonly ledgerSecretFile?: string;
  /** The other nodes of the network, whose signed roots this node compares with its own. */
  readonly peers?: readonly { readonly nodeId: string; readonly url: string }[];
  /** PEM bundle of the organisations' TLS CAs (peers' server certificates chain to one). */
  readonly tlsCaFile?: string;
  /**
   * Where peers reach this node's API (https://host:port), sent in its join request; default
   * the address it listens on (behind a proxy or NAT, set the outside one).
   */
  readonly advertiseUrl?: string;
  /**
   * Custody webhooks (issue 7, README "Custody API"): each endpoint gets the deposit and
   * withdrawal state changes it selects (`events`: types like `withdrawal.approved` or kinds
   * like `deposit.*`; absent: all), signed with HMAC-SHA256 under the key in `secretFile`.
   */
  readonly webhooks?: readonly WebhookConfig[];
};

export type WebhookConfig = {
  readonly url: string;
  readonly secretFile: string;
  readonly events?: readonly string[];
  /** PEM of an https receiver's CA (default: the system's). */
  readonly caFile?: string;
};

function mallocTuningOf(json: Record<string, unknown>): boolean {
  field(typeof json['mallocTuning'] === 'boolean', 'mallocTuning', 'must be true or false');
  return json['mallocTuning'] as boolean;
}

function heapGrowthPercentOf(value: unknown): number {
  field(
    value === 0 ||
      (Number.isSafeInteger(value) &&
        (value as number) >= heapGrowthPercentMin &&
        (value as number) <= heapGrowthPercentMax),
    'heapGrowthPercent',
    `must be 0 (V8's own choice) or an integer from ${heapGrowthPercentMin} to ${heapGrowthPercentMax}`,
  );
  return value as number;
}

function consoleConfig(value: unknown): { console?: { host: string; port: number } } {
  if (value === undefined) return {};
  const item = (value ?? {}) as Record<string, unknown>;
  field(typeof item['host'] === 'string', 'console.host', 'must be a host');
  field(
    Number.isInteger(item['port']) &&
      (item['port'] as number) >= 0 &&
      (item['port'] as number) <= 65535,
    'console.port',
    'must be a port number',
  );
  return { console: { host: item['host'] as string, port: item['port'] as number } };
}

/** Webhook endpoints per node (src/node/webhooks.ts webhookEndpointsMax). */
const webhooksMax = 16;

function webhooksConfig(
  value: unknown,
  at: (p: unknown) => string,
): { webhooks?: WebhookConfig[] } {
  if (value === undefined) return {};
  field(Array.isArray(value), 'webhooks', 'must be a list of {url, secretFile, events?}');
  const list = value as Record<string, unknown>[];
  field(list.length <= webhooksMax, 'webhooks', `has at most ${webhooksMax} endpoints`);
  const seen = new Set<string>();
  const webhooks = list.map((item, index) => {
    const name = `webhooks[${index}]`;
    let url: URL | undefined;
    try {
      url = new URL(String(item['url']));
    } catch {
      url = undefined;
    }
    field(
      url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:'),
      `${name}.url`,
      'must be an http(s) URL',
    );
    field(!seen.has(String(item['url'])), `${name}.url`, 'repeats another endpoint');
    seen.add(String(item['url']));
    field(typeof item['secretFile'] === 'string', `${name}.secretFile`, 'must be a path');
    const events = item['events'];
    field(
      events === undefined ||
        (Array.isArray(events) &&
          events.every(
            (event) => typeof event === 'string' && /^(deposit|withdrawal)\.[a-z_*]+$/.test(event),
          )),
      `${name}.events`,
      'must list event types like withdrawal.approved or deposit.*',
    );
    return {
      url: String(item['url']),
      secretFile: at(item['secretFile']),
      ...(events === undefined ? {} : { events: events as string[] }),
      ...(item['caFile'] === undefined ? {} : { caFile: at(item['caFile']) }),
    };
  });
  return { webhooks };
}

/**
 * A file holding just the `webhooks` list of a node config (`coffer up --webhooks FILE`):
 * checked like the node config's, paths relative to the file.
 */
export async function readWebhooksFile(file: string): Promise<WebhookConfig[]> {
  const raw = await readJsonFile(file, 'webhooks file');
  const base = path.dirname(path.resolve(file));
  return webhooksConfig(raw, (p) => path.resolve(base, String(p))).webhooks ?? [];
}

export type OrderingConfig =
  | { readonly kind: 'embedded' }
  | {
      readonly kind: 'etcd';
      /** Client URLs of the etcd members (https://host:port). */
      readonly endpoints: readonly string[];
      /** The network's key prefix in etcd. */
      readonly prefix: string;
      /** The organisations' TLS CA certificates (PEM bundle) etcd's certificates chain to. */
      readonly caFile: string;
      /** This node's TLS identity towards etcd (client auth). */
      readonly certFile: string;
      readonly keyFile: string;
      /** Overrides of the etcd log's limits (etcd-limits.ts), e.g. retentionWindowMs. */
      readonly limits?: EtcdLimitOptions;
    };

function peersConfig(
  raw: unknown,
  caFile: unknown,
  at: (p: unknown) => string,
): Pick<NodeConfig, 'peers' | 'tlsCaFile'> {
  if (raw === undefined) return {};
  field(Array.isArray(raw), 'peers', 'must list {nodeId, url} of the other nodes');
  const peers = (raw as Record<string, unknown>[]).map((peer, index) => {
    field(
      typeof peer['nodeId'] === 'string' &&
        typeof peer['url'] === 'string' &&
        peer['url'].startsWith('https://'),
      `peers[${index}]`,
      'needs nodeId and an https:// url',
    );
    return { nodeId: peer['nodeId'] as string, url: peer['url'] as string };
  });
  field(
    typeof caFile === 'string',
    'tlsCaFile',
    "must name the TLS CA bundle peers' certificates chain to",
  );
  return { peers, tlsCaFile: at(caFile) };
}

function advertiseConfig(raw: unknown): Pick<NodeConfig, 'advertiseUrl'> {
  if (raw === undefined) return {};
  field(
    typeof raw === 'string' && nodeUrlPattern.test(raw),
    'advertiseUrl',
    'must be https://host:port (no path)',
  );
  return { advertiseUrl: raw as string };
}

function orderingConfig(raw: unknown, at: (p: unknown) => string): OrderingConfig {
  if (raw === undefined) return { kind: 'embedded' };
  const json = (raw ?? {}) as Record<string, unknown>;
  if (json['kind'] === 'embedded') return { kind: 'embedded' };
  field(json['kind'] === 'etcd', 'ordering.kind', 'must be "embedded" or "etcd"');
  const endpoints = json['endpoints'];
  field(
    Array.isArray(endpoints) &&
      endpoints.length > 0 &&
      endpoints.every((url) => typeof url === 'string' && url.startsWith('https://')),
    'ordering.endpoints',
    'must list the etcd members as https:// URLs',
  );
  field(typeof json['prefix'] === 'string', 'ordering.prefix', 'must be a key prefix');
  for (const name of ['caFile', 'certFile', 'keyFile']) {
    field(typeof json[name] === 'string', `ordering.${name}`, 'must be a path');
  }
  const limits = json['limits'];
  if (limits !== undefined) {
    field(
      typeof limits === 'object' && limits !== null && !Array.isArray(limits),
      'ordering.limits',
      'must be an object of etcd log limits',
    );
    const resolved = resolveEtcdLimits(limits as EtcdLimitOptions);
    if (!resolved.ok) throw resolved.error;
    for (const name of Object.keys(limits as object)) {
      field(name in resolved.value, `ordering.limits.${name}`, 'is not an etcd log limit');
    }
  }
  return {
    kind: 'etcd',
    ...(limits === undefined ? {} : { limits: limits as EtcdLimitOptions }),
    endpoints: endpoints as string[],
    prefix: json['prefix'] as string,
    caFile: at(json['caFile']),
    certFile: at(json['certFile']),
    keyFile: at(json['keyFile']),
  };
}

export const nodeConfigDefaults = {
  signatureIntervalTx: 1000,
  signatureIntervalMs: 100,
  pendingMax: pendingEnvelopesMax,
} as const;

/** Default verification threads: one per core. */
export const verifyThreadsDefault = (): number => availableParallelism();

function field(condition: boolean, name: string, what: string): void {
  if (!condition) throw cofferError('CLI_E_USAGE', `node config: ${name} ${what}`, { field: name });
}

/** A JSON file's value; CLI_E_FILE_UNREADABLE (naming `what` and the file) if it is not one. */
export async function readJsonFile(file: string, what: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (error) {
    throw cofferError(
      'CLI_E_FILE_UNREADABLE',
      `${what} ${file} cannot be read as JSON: ${(error as Error).message}`,
      { file },
      error,
    );
  }
}

/** The `sessions` field: softMax, and hardMax (unset, the default's margin above softMax). */
function sessionLimitsOf(raw: unknown): SessionLimits {
  field(
    typeof raw === 'object' && raw !== null && !Array.isArray(raw),
    'sessions',
    'must be an object with softMax',
  );
  const json = raw as Record<string, unknown>;
  const limit = (name: 'softMax' | 'hardMax', value: unknown): number => {
    field(
      Number.isSafeInteger(value) &&
        (value as number) >= 1 &&
        (value as number) <= sessionsMaxAllowed,
      `sessions.${name}`,
      `must be an integer from 1 to ${sessionsMaxAllowed}`,
    );
    return value as number;
  };
  const softMax = limit('softMax', json['softMax'] ?? sessionLimitsDefault.softMax);
  const margin = sessionLimitsDefault.hardMax - sessionLimitsDefault.softMax;
  const hardMax = limit(
    'hardMax',
    json['hardMax'] ?? Math.min(sessionsMaxAllowed, softMax + margin),
  );
  field(hardMax >= softMax, 'sessions.hardMax', `must be at least sessions.softMax (${softMax})`);
  return { softMax, hardMax };
}

/** Reads and checks a node config file, resolving paths against its folder. */
export async function readNodeConfig(file: string): Promise<NodeConfig> {
  const raw = await readJsonFile(file, 'node config');
  const base = path.dirname(path.resolve(file));
  const json = raw as Record<string, unknown>;
  const at = (p: unknown): string => path.resolve(base, String(p));
  const listen = (json['listen'] ?? {}) as Record<string, unknown>;
  const tls = (json['tls'] ?? {}) as Record<string, unknown>;
  const identity = (json['identity'] ?? {}) as Record<string, unknown>;
  field(typeof json['nodeId'] === 'string', 'nodeId', 'must be a string');
  field(typeof json['dataDir'] === 'string', 'dataDir', 'must be a path');
  field(typeof listen['host'] === 'string', 'listen.host', 'must be a host');
  field(Number.isInteger(listen['port']), 'listen.port', 'must be a port number');
  field(
    typeof tls['certFile'] === 'string' && typeof tls['keyFile'] === 'string',
    'tls',
    'needs certFile and keyFile',
  );
  field(
    typeof identity['mspId'] === 'string' && typeof identity['mspDir'] === 'string',
    'identity',
    'needs mspId and mspDir',
  );
  field(
    Array.isArray(json['consortium']) && (json['consortium'] as unknown[]).length > 0,
    'consortium',
    'must list the member MSPs',
  );
  const positive = (name: string, value: unknown): number => {
    field(Number.isSafeInteger(value) && (value as number) > 0, name, 'must be a positive integer');
    return value as number;
  };
  const number = (name: keyof typeof nodeConfigDefaults): number => {
    const value = json[name] ?? nodeConfigDefaults[name];
    field(Number.isSafeInteger(value) && (value as number) > 0, name, 'must be a positive integer');
    return value as number;
  };
  const pendingMax = number('pendingMax');
  field(
    pendingMax <= pendingEnvelopesMax,
    'pendingMax',
    `must be at most ${pendingEnvelopesMax} (the engine's pendingEnvelopesMax), not ${pendingMax}`,
  );
  const verifyThreads = json['verifyThreads'] ?? verifyThreadsDefault();
  field(
    Number.isSafeInteger(verifyThreads) &&
      (verifyThreads as number) >= 0 &&
      (verifyThreads as number) <= verifyPoolLimits.threadsMax,
    'verifyThreads',
    `must be an integer from 0 to ${verifyPoolLimits.threadsMax}`,
  );
  return {
    nodeId: json['nodeId'] as string,
    dataDir: at(json['dataDir']),
    listen: { host: listen['host'] as string, port: listen['port'] as number },
    ...consoleConfig(json['console']),
    tls: { certFile: at(tls['certFile']), keyFile: at(tls['keyFile']) },
    identity: { mspId: identity['mspId'] as string, mspDir: at(identity['mspDir']) },
    consortium: (json['consortium'] as Record<string, unknown>[]).map((member, index) => {
      field(
        typeof member['mspId'] === 'string' && typeof member['mspDir'] === 'string',
        `consortium[${index}]`,
        'needs mspId and mspDir',
      );
      return { mspId: member['mspId'] as string, mspDir: at(member['mspDir']) };
    }),
    signatureIntervalTx: number('signatureIntervalTx'),
    signatureIntervalMs: number('signatureIntervalMs'),
    ...(json['snapshotIntervalTx'] === undefined
      ? {}
      : { snapshotIntervalTx: positive('snapshotIntervalTx', json['snapshotIntervalTx']) }),
    pendingMax,
    verifyThreads: verifyThreads as number,
    ...(json['sessions'] === undefined ? {} : { sessions: sessionLimitsOf(json['sessions']) }),
    ...(json['mallocTuning'] === undefined ? {} : { mallocTuning: mallocTuningOf(json) }),
    ...(json['heapGrowthPercent'] === undefined
      ? {}
      : { heapGrowthPercent: heapGrowthPercentOf(json['heapGrowthPercent']) }),
    ordering: orderingConfig(json['ordering'], at),
    ...peersConfig(json['peers'], json['tlsCaFile'], at),
    ...(json['ledgerSecretFile'] === undefined
      ? {}
      : { ledgerSecretFile: at(json['ledgerSecretFile']) }),
    ...(json['genesisFile'] === undefined ? {} : { genesisFile: at(json['genesisFile']) }),
    ...advertiseConfig(json['advertiseUrl']),
    ...webhooksConfig(json['webhooks'], at),
  };
}
