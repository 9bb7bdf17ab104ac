// The web console in a real browser (issue 10): Debian's Chromium driven by playwright-core
// against a real `coffer up` with its console listener, custody set up as in custody.test.ts
// (signer, worker, a 2-of-3 wallet whose withdrawals over 500 CFR need two admins). People
// sign in with console key stores made by `coffer console keystore`. Each area's scenarios are
// in test/e2e/console/<area>.ts; every page's screenshot goes to artifacts/console/.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { closeBrowsers, launchChromium, newPage } from '../support/browser.js';
import { startCustodyConsortium, type CustodyConsortium } from '../support/custody-up.js';
import { describeAccess } from './console/access.js';
import { describeCustody } from './console/custody.js';
import { describeExplorer } from './console/explorer.js';
import { describeGovernance } from './console/governance.js';

const coffer = path.resolve(import.meta.dirname, '../../bin/coffer');
const run = promisify(execFile);

export type Person = 'admin1' | 'admin2' | 'user1';

export type ConsoleContext = {
  readonly consortium: CustodyConsortium;
  readonly consoleUrl: string;
  readonly browser: Browser;
  /** A new page signed in as `who` (its key store unlocked in the page). */
  readonly signedIn: (who: Person) => Promise<Page>;
  /** `who`'s console key store file (made by `coffer console keystore`). */
  readonly keyStoreFile: (who: Person) => string;
};

export const consolePassphrase = 'console e2e passphrase';
const people: Record<Person, { org: number; user: string }> = {
  admin1: { org: 1, user: 'Admin' },
  admin2: { org: 2, user: 'Admin' },
  user1: { org: 1, user: 'User1' },
};

let context: ConsoleContext | undefined;
const keyStores = new Map<Person, string>();

/** Signs in through the page's form: chooses the key store file and types the passphrase. */
export async function signIn(page: Page, consoleUrl: string, file: string): Promise<void> {
  await page.goto(consoleUrl);
  await page.getByLabel('Key store file').setInputFiles(file);
  await page.getByLabel('Passphrase').fill(consolePassphrase);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect.poll(() => page.getByText('can sign').count(), { timeout: 20_000 }).toBe(1);
}

beforeAll(async () => {
  const consortium = await startCustodyConsortium({
    upArgs: ['--console-port', '0'],
    approvalsRequired: 2,
  });
  try {
    const consoleUrl = consortium.consoleUrl;
    if (consoleUrl === undefined) throw new Error('coffer up reported no console URL');
    await writeFile(path.join(consortium.dir, 'console.passphrase'), `${consolePassphrase}\n`);
    for (const [who, { org, user }] of Object.entries(people) as [Person, typeof people.admin1][]) {
      const files = await consortium.identityFiles(org, user);
      const out = path.join(consortium.dir, `${who}.keystore.json`);
      await run(coffer, [
        'console',
        'keystore',
        '--msp-dir',
        files.msp,
        '--msp-id',
        `Org${org}MSP`,
        '--out',
        out,
        '--passphrase-file',
        path.join(consortium.dir, 'console.passphrase'),
        '--kdf-cost',
        '14',
      ]);
      keyStores.set(who, out);
    }
    const browser = await launchChromium();
    context = {
      consortium,
      consoleUrl,
      browser,
      keyStoreFile: (who) => keyStores.get(who) ?? '',
      signedIn: async (who) => {
        const { page } = await newPage(browser);
        await signIn(page, consoleUrl, keyStores.get(who) ?? '');
        return page;
      },
    };
  } catch (error) {
    await consortium.stop();
    throw error;
  }
}, 120_000);

afterAll(async () => {
  await closeBrowsers();
  await context?.consortium.stop();
}, 60_000);

const ctx = (): ConsoleContext => {
  if (context === undefined) throw new Error('the console test consortium did not start');
  return context;
};

describe('console: custody', () => {
  describeCustody(ctx);
});
describe('console: governance', () => {
  describeGovernance(ctx);
});
describe('console: ledger explorer', () => {
  describeExplorer(ctx);
});
// Last: the pages then hold the data the areas' scenarios made.
describe('console: access', () => {
  describeAccess(ctx);
});
