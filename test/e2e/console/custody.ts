// The console's custody pages in the browser (placeholder until they are built).
import { expect, it } from 'vitest';
import type { ConsoleContext } from '../console.test.js';
import { screenshot } from '../../support/browser.js';

export function describeCustody(ctx: () => ConsoleContext): void {
  it('opens the custody area signed in', async () => {
    const page = await ctx().signedIn('admin1');
    await page.goto(`${ctx().consoleUrl}#/custody`);
    await expect
      .poll(() => page.getByRole('heading', { level: 1 }).first().textContent())
      .toMatch(/Custody/);
    await screenshot(page, 'custody');
    await page.close();
  });
}
