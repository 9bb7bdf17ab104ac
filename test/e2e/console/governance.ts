// The console's governance pages in the browser (placeholder until they are built).
import { expect, it } from 'vitest';
import type { ConsoleContext } from '../console.test.js';
import { screenshot } from '../../support/browser.js';

export function describeGovernance(ctx: () => ConsoleContext): void {
  it('opens the governance area signed in', async () => {
    const page = await ctx().signedIn('admin1');
    await page.goto(`${ctx().consoleUrl}#/governance`);
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).first().textContent())
      .toMatch(/Governance/);
    await screenshot(page, 'governance');
    await page.close();
  });
}
