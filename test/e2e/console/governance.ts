// The console's governance pages in the browser: Org1's admin writes a settings change in the
// propose form, checks it with the ledger and signs it in the page; it opens with the
// constitution's verdict (1 of 2 needed yes votes on `coffer up`'s three members); Org2's admin
// votes yes in the page and it is accepted, the ledger's configuration changed. An MSP folder
// loaded in the page gives the definition in force; a non-admin sees why it cannot vote; the
// proposer withdraws. The organisations page shows each MSP's CAs with the fingerprints the
// certificate files have; the nodes page this node's admission and attestation.
import { X509Certificate } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import type { ConsoleContext } from '../console.test.js';
import { screenshot } from '../../support/browser.js';
import { must } from '../../support/custody-up.js';

type Settings = { proposalTtlMs: number };
type ProposalState = { state: string; ballots: Record<string, { ballot: string }> };

const day = 24 * 3600 * 1000;

async function govConfig(ctx: ConsoleContext): Promise<{ settings: Settings }> {
  return (await ctx.consortium.admin1.query('gov', 'config', {})) as { settings: Settings };
}

async function proposalOf(ctx: ConsoleContext, id: string): Promise<ProposalState> {
  return (await ctx.consortium.admin1.query('gov', 'proposal', { id })) as ProposalState;
}

const verdictLine = (page: Page): Promise<string | null> =>
  page.locator('.gov-verdict-line').textContent();

export function describeGovernance(ctx: () => ConsoleContext): void {
  it('admin1 proposes a settings change in the page; admin2 votes yes; the ledger applies it', async () => {
    const context = ctx();
    const before = await govConfig(context);
    const target = before.settings.proposalTtlMs + day;
    const admin1 = await context.signedIn('admin1');
    await admin1.goto(`${context.consoleUrl}#/governance/propose`);
    await admin1.getByLabel('Proposal lifetime (ms)').fill(String(target));
    await admin1.getByRole('button', { name: 'Add to proposal' }).click();
    // The action in words, told against the setting in force.
    await expect
      .poll(() => admin1.locator('.gov-actions').first().textContent())
      .toMatch(/Change the service settings.*proposal lifetime: \d+ days → \d+ days/);
    await admin1.getByRole('button', { name: 'Check with the ledger' }).click();
    await expect
      .poll(() => admin1.locator('.gov-check').textContent())
      .toMatch(/The ledger accepts this proposal now .*it would open and wait/);
    await screenshot(admin1, 'governance-propose');

    await admin1.getByRole('button', { name: 'Sign and propose' }).click();
    await admin1.waitForURL(/#\/governance\/proposals\/[0-9a-f]{64}$/);
    const id = /proposals\/([0-9a-f]{64})$/.exec(admin1.url())?.[1] ?? '';
    // Open, with the constitution's verdict: Org1's yes counts, Org2 or Org3 decides.
    await expect.poll(() => verdictLine(admin1)).toMatch(/Open\s*1 of 2 needed yes votes/);
    expect(await proposalOf(context, id)).toMatchObject({ state: 'Open' });

    await admin1.goto(`${context.consoleUrl}#/governance/proposals`);
    const card = admin1.locator('li.gov-proposal', { has: admin1.locator(`a[href$="${id}"]`) });
    await expect.poll(() => card.textContent()).toMatch(/1 of 2 needed yes votes/);
    expect(await card.textContent()).toMatch(
      /Org1MSP\s*yes.*Org2MSP\s*none yet.*Org3MSP\s*none yet/,
    );
    await screenshot(admin1, 'governance-proposals');
    await admin1.close();

    const admin2 = await context.signedIn('admin2');
    await admin2.goto(`${context.consoleUrl}#/governance/proposals/${id}`);
    await expect.poll(() => admin2.getByText('Your yes accepts the proposal').count()).toBe(1);
    await admin2.getByRole('button', { name: 'Vote yes' }).click();
    await expect.poll(() => verdictLine(admin2), { timeout: 20_000 }).toMatch(/Accepted/);
    const votes = admin2.getByRole('table', { name: 'One ballot per member organisation' });
    expect(await votes.textContent()).toMatch(
      /Org1MSP\s*yes.*Org2MSP\s*yes.*Org3MSP\s*did not vote/,
    );
    await screenshot(admin2, 'governance-proposal');
    await admin2.close();

    expect(await proposalOf(context, id)).toMatchObject({
      state: 'Accepted',
      ballots: { Org1MSP: { ballot: 'yes' }, Org2MSP: { ballot: 'yes' } },
    });
    expect((await govConfig(context)).settings.proposalTtlMs).toBe(target);
  });

  it('an MSP folder loaded in the page is the definition in force; the ledger checks it', async () => {
    const context = ctx();
    const admin1 = await context.signedIn('admin1');
    await admin1.goto(`${context.consoleUrl}#/governance/propose/msp/Org2MSP`);
    const folder = path.join(
      context.consortium.dir,
      'crypto/peerOrganizations/org2.coffer.local/msp',
    );
    await admin1.getByLabel('Load an MSP folder').setInputFiles(folder);
    await expect.poll(() => admin1.getByText(/Loaded \d+ files of the folder/).count()).toBe(1);
    await admin1.getByRole('button', { name: 'Add to proposal' }).click();
    await expect
      .poll(() => admin1.locator('.gov-actions').first().textContent())
      .toMatch(/Update the MSP of Org2MSP.*same definition as in force/);
    await screenshot(admin1, 'governance-propose-msp');
    await admin1.getByRole('button', { name: 'Check with the ledger' }).click();
    await expect
      .poll(() => admin1.locator('.gov-check').textContent())
      .toMatch(/The ledger accepts this proposal now/);
    // A broken list is refused in the page before anything is signed, naming the field.
    await admin1
      .getByLabel('Actions (JSON)')
      .fill('[{"name": "add_member", "args": {"mspId": "no/such"}}]');
    await expect
      .poll(() => admin1.locator('#gov-draft-status').textContent())
      .toMatch(/actions\[0\]\.args\.mspId must be an id/);
    expect(await admin1.getByRole('button', { name: 'Sign and propose' }).isDisabled()).toBe(true);
    await admin1.close();
  });

  it('a non-admin sees why it cannot vote; the proposer withdraws in the page', async () => {
    const context = ctx();
    const proposed = await must(context.consortium.admin1, 'gov', 'propose', {
      actions: [{ name: 'allow_code', args: { codeId: 'c'.repeat(64) } }],
    });
    const id = proposed.txId;
    const user1 = await context.signedIn('user1');
    await user1.goto(`${context.consoleUrl}#/governance/proposals/${id}`);
    await expect.poll(() => user1.getByText('You are not an admin of Org1MSP').count()).toBe(1);
    expect(await user1.getByRole('button', { name: 'Vote yes' }).count()).toBe(0);
    await user1.close();

    const admin1 = await context.signedIn('admin1');
    admin1.on('dialog', (dialog) => void dialog.accept());
    await admin1.goto(`${context.consoleUrl}#/governance/proposals/${id}`);
    await admin1.getByRole('button', { name: 'Withdraw proposal' }).click();
    await expect.poll(() => verdictLine(admin1), { timeout: 20_000 }).toMatch(/Withdrawn/);
    expect(await proposalOf(context, id)).toMatchObject({ state: 'Withdrawn' });
    await admin1.close();
  });

  it('shows each organisation’s CAs, and the nodes with their admission and attestation', async () => {
    const context = ctx();
    const page = await context.signedIn('admin2');
    await page.goto(`${context.consoleUrl}#/governance/organisations`);
    for (const org of [1, 2, 3]) {
      const section = page.getByRole('region', { name: `Org${org}MSP` });
      await expect.poll(() => section.textContent()).toMatch(/member/);
      // The page's fingerprint of the root CA is the certificate file's.
      const cacerts = path.join(
        context.consortium.dir,
        `crypto/peerOrganizations/org${org}.coffer.local/msp/cacerts`,
      );
      const [file] = await readdir(cacerts);
      const cert = new X509Certificate(await readFile(path.join(cacerts, file ?? ''), 'utf8'));
      const roots = section.getByRole('table', { name: `Root CAs of Org${org}MSP` });
      const text = (await roots.textContent()) ?? '';
      expect(text).toContain(cert.fingerprint256);
      expect(text).toContain(`ca.org${org}.coffer.local`);
      expect(text).toMatch(/valid/);
    }
    await screenshot(page, 'governance-organisations');

    await page.goto(`${context.consoleUrl}#/governance/nodes`);
    const nodes = page.getByRole('table', { name: 'Nodes of the consortium' });
    await expect.poll(() => nodes.textContent()).toMatch(/org1-peer0\s*this node\s*Org1MSP/);
    const row = (await nodes.textContent()) ?? '';
    expect(row).toMatch(/admitted/);
    expect(row).toMatch(/allowed/);
    expect(row).toMatch(/virtual/);
    await expect
      .poll(() => page.getByRole('region', { name: /This node/ }).textContent())
      .toMatch(/admitted.*virtual/);
    await screenshot(page, 'governance-nodes');

    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${context.consoleUrl}#/governance/proposals`);
    await expect.poll(() => page.getByRole('heading', { name: 'Recently closed' }).count()).toBe(1);
    // Nothing but the tables' own scrollers is wider than the phone.
    const overflow = await page.evaluate(
      'document.documentElement.scrollWidth - document.documentElement.clientWidth',
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, 'governance-phone');
    await page.close();
  });
}
