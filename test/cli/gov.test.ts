// `coffer gov`: flags and files become proposals, results print readably or as JSON. The client
// is replaced by one that runs the `gov` app on an in-memory ledger (test/governance/support.ts),
// so the command's whole path except HTTP runs for real.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { TxResult } from '../../src/client/index.js';
import { govCommandWith, type GovClient } from '../../src/cli/gov.js';
import { main, type CommandIo } from '../../src/cli/main.js';
import type { Caller } from '../../src/contracts/index.js';
import type { GovConfig } from '../../src/governance/index.js';
import {
  caller,
  codeB,
  genesis,
  ledgerAt,
  material,
  type Ledger,
  type Material,
} from '../governance/support.js';

let m: Material;
let config: GovConfig;
beforeAll(async () => {
  m = await material();
  config = genesis(m);
});

function io(): CommandIo & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
}

/** A client whose transactions run on `ledger` as `who`. */
function clientOn(ledger: Ledger, who: () => Caller): GovClient {
  return {
    submit: (_app, action, args) => {
      const outcome = ledger.run(who(), action as 'propose', { ...args });
      const result: TxResult = outcome.ok
        ? { txId: outcome.txId, status: 'Committed', seqno: 1, result: outcome.result }
        : {
            txId: outcome.txId,
            status: 'Invalid',
            code: outcome.error.code,
            message: outcome.error.message,
          };
      return Promise.resolve(result);
    },
    query: (_app, query, args) => Promise.resolve(ledger.query(query, { ...args })),
    close: () => undefined,
  };
}

function gov(ledger: Ledger, who: () => Caller, now = () => ledger.time) {
  const command = govCommandWith({ client: () => Promise.resolve(clientOn(ledger, who)), now });
  return async (...args: string[]) => {
    const out = io();
    const code = await command(args, out);
    return { code, stdout: out.out.join('\n'), stderr: out.err.join('\n') };
  };
}

describe('coffer gov', () => {
  it('propose, vote, list and show, readable and --json', async () => {
    const ledger = ledgerAt(config);
    let who = caller('Org1MSP');
    const run = gov(ledger, () => who);
    const proposed = await run('propose', '--allow-code', codeB, '--json');
    expect(proposed.code).toBe(0);
    const tx = JSON.parse(proposed.stdout) as { status: string; result: { proposalId: string } };
    expect(tx.status).toBe('Committed');
    const id = tx.result.proposalId;

    who = caller('Org2MSP');
    const voted = await run('vote', id, 'yes');
    expect(voted.code).toBe(0);
    expect(voted.stdout).toContain(`voted: proposal ${id} is Accepted`);
    expect(voted.stdout).toContain('Org1MSP yes, Org2MSP yes');

    const list = await run('list');
    expect(list.stdout).toMatch(new RegExp(`^${id}  Accepted  by Org1MSP  \\[allow_code\\]`));
    const shown = await run('show', id);
    expect(shown.stdout).toContain(`proposal ${id}`);
    expect(shown.stdout).toContain('1. allow_code {"codeId":"');
    expect(shown.stdout).toMatch(/Org2MSP\s+yes/);
    const shownJson = JSON.parse((await run('show', id, '--json')).stdout) as { state: string };
    expect(shownJson.state).toBe('Accepted');
    expect((await run('list', '--state', 'Open')).stdout).toBe('no proposals');
  });

  it('an invalid transaction prints its code and exits 1', async () => {
    const ledger = ledgerAt(config);
    const run = gov(ledger, () => caller('Org1MSP', 'user', false));
    const refused = await run('propose', '--allow-code', codeB);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^GOV_E_NOT_ADMIN: /);
  });

  it('--set-msp reads an MSP folder; with --add-member and --admit-node a new organisation joins', async () => {
    const ledger = ledgerAt(config);
    let who = caller('Org1MSP');
    const run = gov(ledger, () => who);
    const proposed = await run(
      'propose',
      '--set-msp',
      `Org4MSP=${path.join(m.orgDir(4), 'msp')}`,
      '--add-member',
      'Org4MSP',
      '--allow-code',
      codeB,
      '--admit-node',
      `org4-peer0=Org4MSP:${codeB}`,
      '--json',
    );
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = (JSON.parse(proposed.stdout) as { result: { proposalId: string } }).result
      .proposalId;
    who = caller('Org3MSP');
    expect((await run('vote', id, 'yes')).stdout).toContain('is Accepted');
    const now = ledger.config();
    expect(now.members).toEqual(['Org1MSP', 'Org2MSP', 'Org3MSP', 'Org4MSP']);
    expect(now.nodes['org4-peer0']).toMatchObject({ mspId: 'Org4MSP', codeId: codeB });
    // The stored definition is the folder's verifying part, without private keys.
    expect(JSON.stringify(now.msps['Org4MSP'])).not.toContain('PRIVATE KEY');
  });

  it('--file proposal.json, withdraw, and settings/constitution flags', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'coffer-gov-cli-'));
    const file = path.join(dir, 'proposal.json');
    await writeFile(
      file,
      JSON.stringify({ actions: [{ name: 'set_settings', args: { signatureIntervalTx: 10 } }] }),
    );
    const ledger = ledgerAt(config);
    const run = gov(ledger, () => caller('Org1MSP'));
    const proposed = await run(
      'propose',
      '--file',
      file,
      '--constitution',
      "policy:OutOf(2, 'Org1MSP.admin', 'Org2MSP.admin', 'Org3MSP.admin')",
      '--expires-in',
      '60000',
      '--json',
    );
    expect(proposed.code, proposed.stderr).toBe(0);
    const id = (JSON.parse(proposed.stdout) as { result: { proposalId: string } }).result
      .proposalId;
    const shown = (await run('show', id)).stdout;
    expect(shown).toContain('1. set_settings {"signatureIntervalTx":10}');
    expect(shown).toContain('2. set_constitution {"constitution":{"kind":"policy"');
    const withdrawn = await run('withdraw', id);
    expect(withdrawn.stdout).toContain('is Withdrawn');
  });

  it('marks an open proposal past its expiry in listings (local clock)', async () => {
    const ledger = ledgerAt(config);
    const run = gov(
      ledger,
      () => caller('Org1MSP'),
      () => ledger.time + 10 * 24 * 3600 * 1000,
    );
    await run('propose', '--allow-code', codeB);
    expect((await run('list')).stdout).toContain('Open (expired)');
  });

  it('usage errors exit 2 before any node is contacted', async () => {
    for (const args of [
      ['gov', 'vote', 'abc', 'yes'],
      ['gov', 'vote', 'ab'.repeat(32), 'maybe'],
      ['gov', 'propose'],
      ['gov', 'propose', '--admit-node', 'n1'],
      ['gov', 'propose', '--constitution', 'dictator'],
      ['gov', 'list', '--state', 'Sleeping'],
      ['gov', 'frobnicate'],
    ]) {
      const out = io();
      expect(await main(args, out), args.join(' ')).toBe(2);
      expect(out.err.join('\n')).toMatch(/^CLI_E_USAGE/);
    }
    const help = io();
    expect(await main(['gov', '--help'], help)).toBe(0);
    expect(help.out.join('\n')).toContain('coffer gov propose');
  });
});
