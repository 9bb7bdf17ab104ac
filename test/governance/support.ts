// Shared by the governance tests: three organisations' crypto material (cryptogen, NodeOUs on),
// a genesis configuration, and a tiny executor that runs `gov` actions against an in-memory
// store the way execution does (a transaction's writes are kept only if it succeeds).
import { createHash } from 'node:crypto';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ActionContext, Caller, KvWriter } from '../../src/contracts/index.js';
import { isCofferError, type CofferError } from '../../src/errors/index.js';
import {
  checkGenesis,
  configWrites,
  governanceApp,
  mspDefinitionJson,
  readGovConfig,
  type GovConfig,
} from '../../src/governance/index.js';
import { createStore, type Store, type WriteSet } from '../../src/ledger/store.js';
import { generateCryptoMaterial } from '../../src/msp/cryptogen/index.js';
import { readMspFolder, type MspDefinition } from '../../src/msp/index.js';

export const orgs = ['Org1MSP', 'Org2MSP', 'Org3MSP', 'Org4MSP'] as const;
export type OrgId = (typeof orgs)[number];

export type Material = {
  readonly dir: string;
  readonly orgDir: (n: number) => string;
  readonly definition: (mspId: OrgId) => MspDefinition;
  readonly json: (mspId: OrgId) => Record<string, unknown>;
  /** PEM of User1 of organisation n (a client). */
  readonly userPem: (n: number) => Promise<string>;
};

const config = [1, 2, 3, 4]
  .map(
    (n) =>
      `  - Name: Org${n}\n    Domain: org${n}.example.com\n    EnableNodeOUs: true\n    Template: { Count: 1 }\n    Users: { Count: 1 }\n`,
  )
  .join('');

/** Four organisations (Org4 is the one that joins later in the tests). */
export async function material(): Promise<Material> {
  const dir = await mkdtemp(path.join(tmpdir(), 'coffer-gov-'));
  await generateCryptoMaterial({ config: `PeerOrgs:\n${config}`, outputDir: dir });
  const orgDir = (n: number): string => path.join(dir, 'peerOrganizations', `org${n}.example.com`);
  const definitions = new Map<string, MspDefinition>();
  for (const [index, mspId] of orgs.entries()) {
    const folder = await readMspFolder(path.join(orgDir(index + 1), 'msp'), mspId, false);
    definitions.set(mspId, folder.definition);
  }
  const definition = (mspId: OrgId): MspDefinition => {
    const found = definitions.get(mspId);
    if (found === undefined) throw new Error(mspId);
    return found;
  };
  return {
    dir,
    orgDir,
    definition,
    json: (mspId) => mspDefinitionJson(definition(mspId)),
    userPem: (n) =>
      readFile(
        path.join(
          orgDir(n),
          'users',
          `User1@org${n}.example.com`,
          'msp',
          'signcerts',
          `User1@org${n}.example.com-cert.pem`,
        ),
        'utf8',
      ),
  };
}

export const codeA = createHash('sha256').update('code A').digest('hex');
export const codeB = createHash('sha256').update('code B').digest('hex');

/** A genesis of Org1..Org3 (members), one node each on codeA. */
export function genesis(m: Material, extra: Record<string, unknown> = {}): GovConfig {
  return checkGenesis({
    msps: { Org1MSP: m.json('Org1MSP'), Org2MSP: m.json('Org2MSP'), Org3MSP: m.json('Org3MSP') },
    members: ['Org1MSP', 'Org2MSP', 'Org3MSP'],
    nodes: {
      'org1-peer0': { nodeId: 'org1-peer0', mspId: 'Org1MSP', codeId: codeA, status: 'admitted' },
      'org2-peer0': { nodeId: 'org2-peer0', mspId: 'Org2MSP', codeId: codeA, status: 'admitted' },
      'org3-peer0': { nodeId: 'org3-peer0', mspId: 'Org3MSP', codeId: codeA, status: 'admitted' },
    },
    codes: [codeA],
    ...extra,
  });
}

/** An identity id per (org, name): made up, as execution would give a 64-hex identity id. */
export function caller(mspId: string, name = 'admin', isAdmin = true): Caller {
  return {
    mspId,
    identityId: createHash('sha256').update(`${mspId}/${name}`).digest('hex'),
    role: isAdmin ? 'admin' : 'client',
    isAdmin,
  };
}

export type Outcome =
  | { ok: true; result: Record<string, unknown>; writeSet: WriteSet; txId: string }
  | { ok: false; error: CofferError; txId: string };

export type Ledger = {
  readonly store: Store;
  readonly run: (
    who: Caller,
    action: 'propose' | 'vote' | 'withdraw',
    args: Record<string, unknown>,
    time?: number,
  ) => Outcome;
  readonly query: (name: string, args?: Record<string, unknown>) => unknown;
  readonly config: () => GovConfig;
  /** Runs and expects success; returns the result. */
  readonly ok: (
    who: Caller,
    action: 'propose' | 'vote' | 'withdraw',
    args: Record<string, unknown>,
    time?: number,
  ) => Record<string, unknown>;
  /** Runs and expects the transaction to be invalid; returns the error code. */
  readonly fails: (
    who: Caller,
    action: 'propose' | 'vote' | 'withdraw',
    args: Record<string, unknown>,
    time?: number,
  ) => string;
  time: number;
};

/** A ledger at genesis; each run is one transaction at `time` (default: ledger.time, +1 s each). */
export function ledgerAt(config: GovConfig, start = 1_700_000_000_000): Ledger {
  const store = createStore();
  let seqno = 0;
  const genesisTx = store.begin();
  for (const write of configWrites(config)) genesisTx.put(write.map, write.key, write.value);
  store.apply(genesisTx.writeSet(), ++seqno);
  const ledger: Ledger = {
    store,
    time: start,
    run: (who, action, args, time) => {
      const at = time ?? (ledger.time += 1000);
      const txId = createHash('sha256')
        .update(`tx ${seqno + 1}`)
        .digest('hex');
      const tx = store.begin();
      const kv: KvWriter = {
        get: (map, key) => tx.get(map, key),
        put: (map, key, value) => {
          if (!map.startsWith('public:gov.')) throw new Error(`gov wrote ${map}`);
          tx.put(map, key, value);
        },
        delete: (map, key) => {
          tx.delete(map, key);
        },
      };
      const context: ActionContext = { caller: who, txId, time: at, kv };
      const run = governanceApp.actions[action]?.run;
      if (run === undefined) throw new Error(action);
      seqno++;
      try {
        const result = run(context, args) as Record<string, unknown>;
        const writeSet = tx.writeSet();
        store.apply(writeSet, seqno);
        return { ok: true, result, writeSet, txId };
      } catch (error) {
        if (!isCofferError(error)) throw error;
        return { ok: false, error, txId };
      }
    },
    query: (name, args = {}) => {
      const query = governanceApp.queries[name];
      if (query === undefined) throw new Error(name);
      return query.run({ caller: undefined, kv: { get: store.read } }, args);
    },
    config: () => {
      const current = readGovConfig(store.read);
      if (current === undefined) throw new Error('no config');
      return current;
    },
    ok: (who, action, args, time) => {
      const outcome = ledger.run(who, action, args, time);
      if (!outcome.ok) throw outcome.error;
      return outcome.result;
    },
    fails: (who, action, args, time) => {
      const outcome = ledger.run(who, action, args, time);
      if (outcome.ok) throw new Error(`${action} succeeded: ${JSON.stringify(outcome.result)}`);
      return outcome.error.code;
    },
  };
  return ledger;
}

export function proposalOf(ledger: Ledger, id: unknown): Record<string, unknown> {
  return ledger.query('proposal', { id }) as Record<string, unknown>;
}
