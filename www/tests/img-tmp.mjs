import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';
const server = await serve('/work/main/dist');
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
const page = await browser.newPage();
await page.goto(`${base}#backend=cpu&demo=images`);
await page.waitForFunction(() => window.scorelab?.demoState().done, null, { timeout: 600_000 });
const at100 = await page.evaluate(() => window.scorelab.demoState().seconds);
let at500 = null;
if (process.argv[2] === '500') {
  await page.fill('#imgSteps', '500');
  await page.click('#imgRun');
  await page.waitForFunction(() => !window.scorelab.demoState().done, null, { timeout: 60_000 }).catch(() => {});
  await page.waitForFunction(() => window.scorelab.demoState().done, null, { timeout: 900_000 });
  at500 = await page.evaluate(() => window.scorelab.demoState().seconds);
}
console.log({ at100, at500 });
await browser.close();
server.close();
