// The browser helpers work on this machine: Debian's Chromium, driven by playwright-core, opens
// a page over HTTPS from a self-signed certificate (as the console's is, to a browser that does
// not trust the organisation's TLS CA), reads its text and saves a screenshot.
import { KeyObject } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ekuServerAuth, makeCert } from '../msp/chain-certs.js';
import { closeBrowsers, launchChromium, newPage, screenshot } from '../support/browser.js';

const text = 'Coffer browser smoke test';
let server: Server | undefined;
let url = '';

beforeAll(async () => {
  const issued = await makeCert({ cn: 'localhost', eku: [ekuServerAuth], sans: ['localhost'] });
  const key = KeyObject.from(issued.keys.privateKey).export({ type: 'pkcs8', format: 'pem' });
  const https = createServer({ cert: issued.pem, key }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>smoke</title><p id="text">${text}</p>`);
  });
  server = https;
  await new Promise<void>((resolve) => https.listen(0, '127.0.0.1', resolve));
  const address = https.address();
  if (address === null || typeof address === 'string') throw new Error('no server port');
  url = `https://127.0.0.1:${address.port}/`;
});

afterAll(async () => {
  await closeBrowsers();
  await new Promise((resolve) => server?.close(resolve));
});

describe('the browser helpers', () => {
  it('open an HTTPS page with a self-signed certificate and save a screenshot', async () => {
    const browser = await launchChromium();
    const { page } = await newPage(browser);
    await page.goto(url);
    expect(await page.locator('#text').textContent()).toBe(text);
    const file = await screenshot(page, 'browser-smoke');
    expect((await stat(file)).size).toBeGreaterThan(0);
  }, 60_000);
});
