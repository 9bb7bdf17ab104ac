// Signing in and reaching the console: a client certificate in the browser reads without a key
// store and is asked for one to sign; a wrong passphrase says so and signs nothing in; the
// keyboard reaches the content first; and every area's main pages pass axe-core's WCAG 2 A and
// AA rules (labels, contrast, names, landmarks) in Chromium.
import { createRequire } from 'node:module';
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import type { ConsoleContext } from '../console.test.js';
import { clientCertificate, newPage, screenshot } from '../../support/browser.js';

const axeSource = createRequire(import.meta.url).resolve('axe-core/axe.min.js');

type AxeViolation = {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
};

/** axe-core's WCAG 2 A/AA violations on the page as it is now. */
async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ path: axeSource });
  // A string, evaluated in the page: the test's own TypeScript has no DOM types.
  const json = await page.evaluate<string>(
    `axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
      .then((result) => JSON.stringify(result.violations.map((violation) => ({
        id: violation.id,
        impact: violation.impact,
        help: violation.help,
        nodes: violation.nodes.slice(0, 3).map((node) => ({ target: node.target })),
      }))))`,
  );
  return JSON.parse(json) as AxeViolation[];
}

export function describeAccess(ctx: () => ConsoleContext): void {
  it('a client certificate in the browser reads without a key store, and is asked for one to sign', async () => {
    const { consortium, consoleUrl, browser } = ctx();
    const admin = await consortium.identityFiles(1, 'Admin');
    const { page, context } = await newPage(browser, {
      clientCertificates: [clientCertificate(consoleUrl, { cert: admin.cert, key: admin.key })],
    });
    try {
      await page.goto(`${consoleUrl}#/custody/wallets`);
      await expect.poll(() => page.getByText('read-only').count()).toBe(1);
      await expect.poll(() => page.getByLabel('Signed in as').textContent()).toContain('Org1MSP');
      // The sign-in form is offered to unlock signing, not to read.
      await expect.poll(() => page.getByRole('button', { name: 'Unlock to sign' }).count()).toBe(1);
      await screenshot(page, 'access-client-certificate');
    } finally {
      await context.close();
    }
  });

  it('a wrong passphrase says so and signs nothing in', async () => {
    const { consoleUrl, browser, keyStoreFile } = ctx();
    const { page, context } = await newPage(browser);
    try {
      await page.goto(consoleUrl);
      await page.getByLabel('Key store file').setInputFiles(keyStoreFile('admin1'));
      await page.getByLabel('Passphrase').fill('not the right passphrase');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await expect
        .poll(() => page.getByRole('alert').textContent(), { timeout: 20_000 })
        .toMatch(/passphrase is wrong/);
      expect(await page.getByText('can sign').count()).toBe(0);
      await screenshot(page, 'access-wrong-passphrase');
    } finally {
      await context.close();
    }
  });

  it('the keyboard reaches "Skip to content" first, and it moves focus to the page', async () => {
    const page = await ctx().signedIn('user1');
    await page.goto(`${ctx().consoleUrl}#/explorer`);
    // A fresh document (the session stays; the key is forgotten), focus at its start.
    await page.reload();
    await page.getByRole('heading', { level: 1 }).first().waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>("document.activeElement?.textContent ?? ''")).toBe(
      'Skip to content',
    );
    await page.keyboard.press('Enter');
    expect(await page.evaluate<string>("document.activeElement?.id ?? ''")).toBe('main');
    await page.close();
  });

  it("every area's main pages pass axe-core's WCAG 2 A and AA rules", async () => {
    const { consoleUrl } = ctx();
    const page = await ctx().signedIn('admin1');
    const pages = [
      'custody/wallets',
      'custody/approvals',
      'custody/policy',
      'governance/proposals',
      'governance/propose',
      'governance/organisations',
      'governance/nodes',
      'explorer',
    ];
    const found: Record<string, AxeViolation[]> = {};
    for (const route of pages) {
      await page.goto(`${consoleUrl}#/${route}`);
      await page.getByRole('heading', { level: 1 }).first().waitFor();
      await page.waitForLoadState('networkidle');
      const violations = await axeViolations(page);
      if (violations.length > 0) found[route] = violations;
    }
    expect(found).toEqual({});
    await page.close();
  });
}
