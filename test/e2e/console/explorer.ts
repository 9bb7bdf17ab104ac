// The console's explorer pages in the browser (placeholder until they are built).
import { expect, it } from 'vitest';
import type { ConsoleContext } from '../console.test.js';
import { screenshot } from '../../support/browser.js';

export function describeExplorer(ctx: () => ConsoleContext): void {
  it('opens the explorer area signed in', async () => {
    const page = await ctx().signedIn('admin1');
    await page.goto(`${ctx().consoleUrl}#/explorer`);
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).first().textContent())
      .toMatch(/Explorer/);
    await screenshot(page, 'explorer');
    await page.close();
  });
}
