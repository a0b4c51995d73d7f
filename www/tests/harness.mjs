// The browser tests' harness: Debian Chromium through playwright-core against dist/ served
// on 127.0.0.1, a page opener that collects console errors, and a tiny test runner
// (ONLY=substring runs the matching tests alone). Screenshots go to test-results/.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import { serve } from './serve.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
fs.mkdirSync('test-results', { recursive: true });

export const server = await serve('dist');
export const base = `http://127.0.0.1:${server.address().port}/`;
export const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
let failed = 0;

/** Collect console errors and uncaught exceptions of a page (or its frames). */
export function watch(page) {
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') { errors.push(m.text()); if (process.env.SHOW) console.log('console.error', m.text().slice(0, 3000)); }
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  return errors;
}

/** Open the page at `hash` and wait until it is ready. */
export async function open(hash, viewport = { width: 1100, height: 800 }) {
  const page = await browser.newPage({ viewport });
  const errors = watch(page);
  await page.goto(base + hash);
  await page.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000 });
  return { page, errors };
}

export async function test(name, f) {
  if (process.env.ONLY && !name.includes(process.env.ONLY)) return;
  const t0 = Date.now();
  try {
    await f();
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}

export async function finish(what) {
  await browser.close();
  server.close();
  if (failed) {
    console.log(`${failed} ${what} test(s) failed`);
    process.exit(1);
  }
  console.log(`all ${what} tests passed`);
}
