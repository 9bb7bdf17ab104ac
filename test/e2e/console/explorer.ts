// The console's ledger explorer in the browser: Org1 User1 (the service) submits public kv
// writes and an invalid transaction; in the page, as user1, the explorer's charts and recent
// entries show them (the invalid one with its code), a key search says how far back it looked,
// a transaction id search opens the transaction, whose receipt verifies in the page; the
// downloaded receipt with one entry byte flipped, chosen from disk, fails with its code; and
// the home and transaction pages fit a phone's width.
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import type { ConsoleContext } from '../console.test.js';
import { screenshot } from '../../support/browser.js';

/** Waits for a locator's text to match (Playwright's own waits do not assert text). */
async function textOf(page: Page, selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? '';
}

export function describeExplorer(ctx: () => ConsoleContext): void {
  it('shows live charts and entries, searches, opens a transaction and verifies its receipt in the page', async () => {
    const { consortium, consoleUrl } = ctx();
    const { service } = consortium;
    const map = 'public:kv.console-explorer';
    const valid: string[] = [];
    for (let index = 0; index < 3; index += 1) {
      const result = await service.submit(
        'kv',
        'put',
        { map, key: `key-${index}`, value: `value ${index}` },
        { wait: 'commit' },
      );
      expect(result.status).toBe('Committed');
      valid.push(result.txId);
    }
    const invalid = await service.submit(
      'kv',
      'put',
      { map: 'not-a-kv-map', key: 'k', value: 'v' },
      { wait: 'commit' },
    );
    expect(invalid).toMatchObject({ status: 'Invalid', code: 'APP_E_INVALID_ARGS' });
    const txId = valid[1] ?? '';
    // A receipt needs a signature entry after the transaction.
    await expect
      .poll(
        () =>
          service.receipt(txId).then(
            () => true,
            () => false,
          ),
        { timeout: 10_000 },
      )
      .toBe(true);

    const page = await ctx().signedIn('user1');
    try {
      // Home: both charts (images with names), their summaries in words, the recent entries.
      await page.goto(`${consoleUrl}#/explorer`);
      await expect
        .poll(() => page.getByRole('heading', { level: 1 }).textContent())
        .toBe('Ledger explorer');
      await page.getByRole('img', { name: /Transactions per second/ }).waitFor();
      await page.getByRole('img', { name: /Commit latency p50 and p99/ }).waitFor();
      await expect
        .poll(() => textOf(page, 'figure.chart figcaption > p'), { timeout: 10_000 })
        .toMatch(/^Last 5 minutes: \d+ transactions? committed and [1-9]\d* invalid/);
      for (const id of valid) {
        await page.getByRole('link', { name: `Transaction ${id}` }).waitFor();
      }
      const invalidRow = page
        .getByRole('row')
        .filter({ has: page.getByRole('link', { name: `Transaction ${invalid.txId}` }) });
      await expect.poll(() => invalidRow.textContent()).toMatch(/Invalid.*APP_E_INVALID_ARGS/);
      await page.getByRole('heading', { name: 'Recent batches' }).waitFor();
      await expect
        .poll(() => page.locator('table.entries').textContent())
        .toMatch(/Signed root.*Tree size \d+/);
      await screenshot(page, 'explorer-home');

      // A key search: what wrote the key, and how far back it looked.
      const search = page.getByLabel('Search the ledger');
      await search.fill(`${map}/key-0`);
      await search.press('Enter');
      await expect
        .poll(() => textOf(page, 'main section'))
        .toMatch(/1 result \(key written\)Key search looked (at every entry|back to entry #\d+)/);
      await page.getByRole('link', { name: `Transaction ${valid[0]}` }).waitFor();

      // A transaction id search, then its page.
      await page.getByLabel('Search the ledger').fill(txId);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByRole('heading', { name: 'Transaction found' }).waitFor();
      await expect.poll(() => textOf(page, 'main section')).toMatch(/kv · put: \d+ public writes?/);
      await screenshot(page, 'explorer-search');
      await page.getByRole('link', { name: /^Open transaction/ }).click();
      await page.getByRole('heading', { name: 'Outcome' }).waitFor();
      const outcome = await textOf(page, 'dl.facts');
      expect(outcome).toContain('Committed');
      expect(outcome).toContain(txId);
      expect(outcome).toContain('kv · put');
      expect(outcome).toContain('Org1MSP');
      await page.getByRole('cell', { name: 'key-1' }).waitFor();

      // Its receipt, verified in the page.
      await page.getByRole('button', { name: 'Verify in this page' }).click();
      const verdict = page.locator('.receipt [role="status"]');
      await expect
        .poll(() => verdict.textContent(), { timeout: 15_000 })
        .toMatch(/Receipt verified/);
      const verified = (await verdict.textContent()) ?? '';
      expect(verified).toContain(`transaction ${txId} is entry #`);
      expect(verified).toMatch(/Org1MSP/);
      await screenshot(page, 'explorer-tx');

      // The downloaded receipt, one entry byte flipped, chosen from disk: it fails, with its code.
      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download receipt' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe(`receipt-${txId}.json`);
      const receipt = JSON.parse(await readFile(await download.path(), 'utf8')) as {
        txId: string;
        entry: string;
      };
      expect(receipt.txId).toBe(txId);
      const entry = Buffer.from(receipt.entry, 'base64');
      const middle = Math.floor(entry.length / 2);
      entry[middle] = (entry[middle] ?? 0) ^ 0x01;
      const tampered = path.join(consortium.dir, 'tampered-receipt.json');
      await writeFile(tampered, JSON.stringify({ ...receipt, entry: entry.toString('base64') }));
      await page.getByLabel('Verify a receipt file').setInputFiles(tampered);
      await expect
        .poll(() => verdict.textContent(), { timeout: 15_000 })
        .toMatch(/Receipt did not verify.*RECEIPT_E_ENTRY_MISMATCH/);
      expect(await verdict.textContent()).toContain('tampered-receipt.json');
      await screenshot(page, 'explorer-receipt-failed');

      // The invalid transaction's page gives its code and reason.
      await page.goto(`${consoleUrl}#/explorer/tx/${invalid.txId}`);
      await page.locator('.tx-error').waitFor();
      expect(await textOf(page, '.tx-error')).toMatch(/APP_E_INVALID_ARGS: .*args\.map/);

      // A phone: the home page fits the width (tables become cards, charts scale).
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`${consoleUrl}#/explorer`);
      await page.getByRole('img', { name: /Transactions per second/ }).waitFor();
      await page.getByRole('link', { name: `Transaction ${txId}` }).waitFor();
      const width = await page.evaluate<number>('document.documentElement.scrollWidth');
      expect(width).toBeLessThanOrEqual(390);
      await screenshot(page, 'explorer-phone');
      await page.goto(`${consoleUrl}#/explorer/tx/${txId}`);
      await page.getByRole('button', { name: 'Verify in this page' }).click();
      await page.getByText('Receipt verified').waitFor();
      expect(
        await page.evaluate<number>('document.documentElement.scrollWidth'),
      ).toBeLessThanOrEqual(390);
    } finally {
      await page.close();
    }
  }, 60_000);
}
