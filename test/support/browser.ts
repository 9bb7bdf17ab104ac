// Browser tests of the console drive Debian's Chromium (/usr/bin/chromium) through
// playwright-core: no browser download, no Playwright test runner, Vitest as everywhere else.
// Every browser launched here is tracked so that `closeBrowsers()` in an afterAll closes it
// even when a test failed half-way.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import {
  chromium,
  type Browser,
  type BrowserContext,
  type BrowserContextOptions,
  type Page,
} from 'playwright-core';

/** Debian's chromium package; scripts/test.sh installs it when missing. */
export const chromiumPath = '/usr/bin/chromium';
/** Where `screenshot` writes (artifacts/ is git-ignored). */
export const screenshotDir = path.resolve(import.meta.dirname, '../../artifacts/console');
/** Playwright's default for actions and navigations in a new context (30 s) is too long here. */
export const pageTimeoutMs = 15_000;

/** One entry of Playwright's `clientCertificates` context option. */
export type ClientCertificate = NonNullable<BrowserContextOptions['clientCertificates']>[number];

export type PageOptions = {
  /** Certificates the browser presents, each for one exact origin (scheme, host, port). */
  readonly clientCertificates?: readonly ClientCertificate[];
};

const browsers = new Set<Browser>();

/**
 * Launches Chromium (no sandbox: the tests run as root). Closed by `closeBrowsers()`, or by
 * the caller with `browser.close()`.
 */
export async function launchChromium(): Promise<Browser> {
  const browser = await chromium.launch({ executablePath: chromiumPath, args: ['--no-sandbox'] });
  browsers.add(browser);
  browser.once('disconnected', () => browsers.delete(browser));
  return browser;
}

/**
 * A page in a new context of `browser` (contexts share nothing: one per person signing in).
 * HTTPS errors are ignored, since the node's certificate comes from the organisation's TLS CA.
 */
export async function newPage(
  browser: Browser,
  options: PageOptions = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    ...(options.clientCertificates === undefined
      ? {}
      : { clientCertificates: [...options.clientCertificates] }),
  });
  try {
    context.setDefaultTimeout(pageTimeoutMs);
    return { context, page: await context.newPage() };
  } catch (error) {
    await context.close();
    throw error;
  }
}

/** A client certificate (PEM) for the origin of `url`. */
export function clientCertificate(
  url: string,
  pem: { readonly cert: string; readonly key: string },
): ClientCertificate {
  return {
    origin: new URL(url).origin,
    cert: Buffer.from(pem.cert),
    key: Buffer.from(pem.key),
  };
}

/** Closes every browser `launchChromium` started that is still open. */
export async function closeBrowsers(): Promise<void> {
  const open = [...browsers];
  browsers.clear();
  await Promise.all(open.map((browser) => browser.close()));
}

/** Saves a full-page PNG to artifacts/console/`name`.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new Error(`screenshot name ${JSON.stringify(name)}: use letters, digits, . _ - only`);
  }
  await mkdir(screenshotDir, { recursive: true });
  const file = path.join(screenshotDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
