// The console's custody pages in the browser, against the console test's consortium (a 2-of-3
// wallet whose withdrawals over 500 CFR need two admins): the wallet list and a wallet with its
// deposit address as a QR code; a policy change approved in the page; a withdrawal over the
// limit that the service requests from the SDK, approved by admin1 in the queue (still pending,
// 1 of 2), refused to user1 (the service, not an admin), approved by admin2, then followed on
// its page's timeline to confirmed while the worker, signer and service move it on; its audit
// history with a receipt downloaded; and the pages at a phone's width.
import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import QRCode from 'qrcode';
import { afterAll, expect, it } from 'vitest';
import { qrOptions } from '../../../console/src/pages/custody/model.js';
import { multisigAccountOf } from '../../../src/contracts/token.js';
import { screenshot } from '../../support/browser.js';
import { custodySymbol, must } from '../../support/custody-up.js';
import type { ConsoleContext, Person } from '../console.test.js';

const destination = `Org3MSP:${'cd'.repeat(32)}`;
/** The pump moves a withdrawal through five transactions; receipts wait for signature entries. */
const confirmMsMax = 60_000;

export function describeCustody(ctx: () => ConsoleContext): void {
  const pages = new Map<Person, Page>();
  /** One signed-in page per person, reused by the scenarios below (sign-in costs a scrypt). */
  const as = async (who: Person): Promise<Page> => {
    const existing = pages.get(who);
    if (existing !== undefined) return existing;
    const page = await ctx().signedIn(who);
    pages.set(who, page);
    return page;
  };
  const open = async (who: Person, route: string): Promise<Page> => {
    const page = await as(who);
    await page.goto(`${ctx().consoleUrl}#/custody/${route}`);
    return page;
  };
  afterAll(async () => {
    for (const page of pages.values()) await page.context().close();
  });
  let withdrawalId: string | undefined;

  it('lists the wallets with keys, balances and state; a wallet shows its deposit address as a QR code', async () => {
    const { consortium } = ctx();
    const { walletId } = consortium;
    await consortium.fund(walletId, '2000');
    const page = await open('admin1', 'wallets');
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).first().textContent())
      .toBe('Wallets');
    // Wallets come per chain; this one is the ledger-native chain's.
    const chain = page.getByRole('region', { name: /^Coffer ledger \(\d+\)$/ });
    const row = chain.getByRole('row').filter({ hasText: walletId.slice(0, 12) });
    await expect.poll(() => row.textContent(), { timeout: 15_000 }).toMatch(/2,000 CFR available/);
    const text = (await row.textContent()) ?? '';
    expect(text).toContain('e2e');
    expect(text).toContain('active');
    expect(text).toContain('platform');
    await screenshot(page, 'custody-wallets');

    await row.getByRole('link', { name: 'e2e' }).click();
    const address = multisigAccountOf(walletId);
    const qr = page.getByRole('img', { name: `QR code of deposit address ${address}` });
    await qr.waitFor();
    // The QR code is the address: the page drew exactly what qrcode draws for it here.
    const expected = await QRCode.toString(address, qrOptions);
    expect(await qr.getAttribute('src')).toBe(
      `data:image/svg+xml;charset=utf-8,${encodeURIComponent(expected)}`,
    );
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], {
      origin: new URL(ctx().consoleUrl).origin,
    });
    await page.getByRole('button', { name: 'Copy deposit address' }).click();
    await expect.poll(() => page.getByText('Copied').count()).toBe(1);
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe(address);
    const policy = page.getByRole('region', { name: 'Policy' });
    await expect.poll(() => policy.textContent()).toContain('off: withdrawals may go to any');
    expect(await policy.textContent()).toMatch(/CFR\s*500\s*100,000/);
    const balances = page.getByRole('region', { name: 'Balances' });
    await expect.poll(() => balances.textContent()).toMatch(/CFR\s*2,000/);
    const deposits = page.getByRole('region', { name: 'Deposits' });
    await expect.poll(() => deposits.textContent()).toMatch(/2,000 CFR\s*credited\s*1 of 1/);
    await screenshot(page, 'custody-wallet');
  }, 120_000);

  it('approves a policy change awaiting quorum in the page', async () => {
    const { consortium } = ctx();
    const proposed = await must(consortium.service, 'custody', 'propose_policy', {
      walletId: consortium.walletId,
      change: { kind: 'whitelist_add', address: destination, label: 'Org3 treasury' },
    });
    const page = await open('admin1', 'policy');
    const row = page.locator(`tr[data-policy-change="${proposed.txId}"]`);
    await expect.poll(() => row.textContent(), { timeout: 15_000 }).toContain('0 of 2');
    expect(await row.textContent()).toContain(`Whitelist ${destination} (Org3 treasury)`);
    await row.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => row.textContent(), { timeout: 15_000 }).toContain('1 of 2');
    expect(await row.textContent()).toContain('You approved it already');
    await must(consortium.admin2, 'custody', 'approve_policy', { changeId: proposed.txId });
    // The page reads the queue again by itself (a reload would forget the unlocked key).
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(0);
    await page.goto(`${ctx().consoleUrl}#/custody/wallets/${consortium.walletId}`);
    const policy = page.getByRole('region', { name: 'Policy' });
    await expect.poll(() => policy.textContent(), { timeout: 15_000 }).toContain('Org3 treasury');
  }, 60_000);

  it('takes a withdrawal over the limit through two admin approvals in the page to confirmed', async () => {
    const { consortium } = ctx();
    const requested = await consortium.service.custody.requestWithdrawal({
      walletId: consortium.walletId,
      asset: custodySymbol,
      amount: '600',
      destination,
      idempotencyKey: 'console-over-limit-1',
    });
    expect(requested.status).toBe('Committed');
    const id = requested.txId;
    withdrawalId = id;
    expect((await consortium.withdrawal(id)).state).toBe('pending_approval');

    // admin1 approves in the queue: one of two, still pending.
    const admin1 = await open('admin1', 'approvals');
    const row1 = admin1.locator(`tr[data-withdrawal="${id}"]`);
    await expect.poll(() => row1.textContent(), { timeout: 15_000 }).toContain('0 of 2');
    expect(await row1.textContent()).toMatch(/600 CFR/);
    await row1.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => row1.textContent(), { timeout: 15_000 }).toContain('1 of 2');
    expect(await row1.textContent()).toContain('You approved it already');
    const afterOne = await consortium.withdrawal(id);
    expect(afterOne.state).toBe('pending_approval');
    expect(afterOne.approvals).toHaveLength(1);
    await screenshot(admin1, 'custody-approvals');

    // user1 (the service, not an admin) sees the button off and why, on the queue and the page.
    const user1 = await open('user1', 'approvals');
    await expect
      .poll(() => user1.getByRole('note').textContent(), { timeout: 15_000 })
      .toContain('Approvals are for MSP admins.');
    const userRow = user1.locator(`tr[data-withdrawal="${id}"]`);
    await expect.poll(() => userRow.count(), { timeout: 15_000 }).toBe(1);
    expect(await userRow.getByRole('button', { name: 'Approve' }).isDisabled()).toBe(true);
    await user1.goto(`${ctx().consoleUrl}#/custody/withdrawal/${id}`);
    const userApprove = user1.getByRole('button', { name: 'Approve' });
    await userApprove.waitFor();
    expect(await userApprove.isDisabled()).toBe(true);
    expect(await user1.getByText('Only MSP admins approve a withdrawal').count()).toBe(1);
    const ahead = user1.locator('ol.timeline li.future');
    await expect.poll(() => ahead.count()).toBe(6);
    await screenshot(user1, 'custody-withdrawal-pending');

    // admin2 approves: the second of two, and it leaves the queue.
    const admin2 = await open('admin2', 'approvals');
    const row2 = admin2.locator(`tr[data-withdrawal="${id}"]`);
    await expect.poll(() => row2.textContent(), { timeout: 15_000 }).toContain('1 of 2');
    await row2.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => row2.count(), { timeout: 15_000 }).toBe(0);
    expect((await consortium.withdrawal(id)).state).not.toBe('pending_approval');

    // The worker, the signer and the service move it on; its page follows it to confirmed.
    const pump = consortium.startPump();
    try {
      await admin1.goto(`${ctx().consoleUrl}#/custody/withdrawal/${id}`);
      const confirmed = admin1.locator('ol.timeline li.done[data-state="confirmed"]');
      await expect.poll(() => confirmed.count(), { timeout: confirmMsMax }).toBe(1);
    } finally {
      await pump.stop();
    }
    const timeline = admin1.getByRole('list', { name: 'States of the withdrawal' });
    const states = await Promise.all(
      (await timeline.locator('li').all()).map(
        async (item) =>
          `${(await item.getAttribute('data-state')) ?? ''}:${(await item.getAttribute('class')) ?? ''}`,
      ),
    );
    expect(states).toEqual([
      'requested:done',
      'pending_approval:done',
      'pending_approval:done',
      'approved:done',
      'built:done',
      'service_signed:done',
      'platform_signed:done',
      'broadcast:done',
      'confirmed:done',
    ]);
    expect(await timeline.textContent()).toContain('Approved by an admin (2 of 2): approved');
    const signatures = admin1.getByRole('region', { name: 'Signatures' });
    expect(await signatures.textContent()).toMatch(/Service key\s*1 of 1/);
    expect(await signatures.textContent()).toMatch(/Platform key \(HSM\)\s*1 of 1/);
    const details = admin1.getByRole('region', { name: 'Details' });
    expect(await details.textContent()).toContain((await consortium.withdrawal(id)).chainTxId);
    await screenshot(admin1, 'custody-withdrawal');
  }, 120_000);

  it('finds the withdrawal in the filtered list and shows its audit history, each step with its receipt', async () => {
    const id = withdrawalId;
    if (id === undefined) throw new Error('the withdrawal scenario did not run');
    // The list, filtered by wallet and state through its form.
    const { walletId } = ctx().consortium;
    const page = await open('admin1', `withdrawals/${walletId}/confirmed`);
    const link = page.getByRole('link', { name: `Withdrawal ${id}` });
    await expect.poll(() => link.count(), { timeout: 15_000 }).toBe(1);
    await page.getByLabel('State').selectOption('pending_approval');
    await expect
      .poll(() => page.getByText('No withdrawals in state pending approval').count())
      .toBe(1);
    expect(page.url()).toContain(`#/custody/withdrawals/${walletId}/pending_approval`);
    await page.getByLabel('State').selectOption('any');
    await expect.poll(() => link.count(), { timeout: 15_000 }).toBe(1);
    await screenshot(page, 'custody-withdrawals');

    await link.click();
    await page.getByRole('link', { name: 'Audit history with receipts' }).click();
    const steps = page.getByRole('region', { name: 'Steps, oldest first' });
    const rows = steps.locator('tbody tr');
    await expect.poll(() => rows.count(), { timeout: 15_000 }).toBe(9);
    const actions = await rows.locator('td:nth-child(2)').allTextContents();
    expect(actions).toEqual([
      'request',
      'policy',
      'approve',
      'approve',
      'build',
      'service sign',
      'platform sign',
      'broadcast',
      'confirm',
    ]);
    await page.getByRole('button', { name: 'Receipt of step 1 (request)' }).click();
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      steps.getByRole('button', { name: 'Download receipt' }).click(),
    ]);
    const receipt = JSON.parse(await readFile(await download.path(), 'utf8')) as unknown;
    expect(JSON.stringify(receipt)).toContain(id);
    await steps.getByRole('button', { name: 'Verify in this page' }).click();
    await expect
      .poll(() => steps.getByText('Receipt verified').count(), { timeout: 15_000 })
      .toBe(1);
    await screenshot(page, 'custody-history');

    // A phone's width: nothing wider than the screen, the timeline readable.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${ctx().consoleUrl}#/custody/withdrawal/${id}`);
    await page.getByRole('list', { name: 'States of the withdrawal' }).waitFor();
    expect(await page.evaluate('document.documentElement.scrollWidth <= window.innerWidth')).toBe(
      true,
    );
    await screenshot(page, 'custody-phone');
  }, 60_000);

  it('rejects a withdrawal only once the admin confirms, and keeps the reason', async () => {
    const { consortium } = ctx();
    const requested = await consortium.service.custody.requestWithdrawal({
      walletId: consortium.walletId,
      asset: custodySymbol,
      amount: '700',
      destination,
      idempotencyKey: 'console-reject-1',
    });
    expect(requested.status).toBe('Committed');
    const id = requested.txId;
    const page = await open('admin2', `withdrawal/${id}`);
    await page
      .getByLabel('Reason for rejecting (optional)')
      .fill('destination not agreed with ops');
    const reject = page.getByRole('button', { name: 'Reject' });
    const dialogs: string[] = [];
    page.once('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await reject.click();
    expect(dialogs).toHaveLength(1);
    expect(dialogs[0]).toContain('Reject the withdrawal of 700 CFR');
    expect((await consortium.withdrawal(id)).state).toBe('pending_approval');
    page.once('dialog', (dialog) => void dialog.accept());
    await reject.click();
    await expect
      .poll(() => page.locator('ol.timeline li.ended[data-state="rejected"]').count(), {
        timeout: 15_000,
      })
      .toBe(1);
    expect(await page.locator('ol.timeline li.future').count()).toBe(0);
    const record = await consortium.withdrawal(id);
    expect(record).toMatchObject({
      state: 'rejected',
      ended: { reason: 'destination not agreed with ops' },
    });
    expect(await page.getByRole('region', { name: 'Details' }).textContent()).toContain(
      'destination not agreed with ops',
    );
  }, 60_000);
}
