// Browser tests of the built page (dist/) in headless Debian Chromium through
// playwright-core: no console errors, samplers run to the end on WebGPU (SwiftShader) and
// on the CPU backend, and the particles read back through window.scorelab match the
// mixture within the exact-vs-exact spread. Screenshots go to test-results/.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import assert from 'node:assert/strict';
import { serve } from './serve.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];
fs.mkdirSync('test-results', { recursive: true });

const server = await serve('dist');
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
let failed = 0;

async function open(hash) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  const errors = [];
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(m.text());
  });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + hash);
  await page.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000 });
  return { page, errors };
}

async function test(name, f) {
  const t0 = Date.now();
  try {
    await f();
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.stack ?? e}`);
  }
}

/** Run a sampler through window.scorelab and check the particles against the mixture. */
async function sampleMatches(page, settings) {
  await page.evaluate((s) => window.scorelab.setState(s), settings);
  const info = await page.evaluate(() => window.scorelab.run());
  assert.equal(info.done, true, 'sampler finished');
  const r = await page.evaluate(async () => {
    const p = await window.scorelab.particles();
    return { len: p.length, report: await window.scorelab.report() };
  });
  assert.equal(r.len, settings.n * 2);
  const rep = r.report;
  assert.equal(rep.non_finite, 0);
  // Tolerances from the exact-vs-exact spread at the same n (1.25 x its 99th percentile).
  assert.ok(rep.sw < 1.25 * rep.sw_q99, `sliced W2 ${rep.sw} vs exact-vs-exact q99 ${rep.sw_q99}`);
  assert.ok(rep.max_weight_error < 1.25 * rep.weight_error_q99,
    `mode weights ${rep.mode_weights} (error ${rep.max_weight_error} vs q99 ${rep.weight_error_q99})`);
  return { info, rep };
}

await test('CPU backend: page loads without console errors and PC sampling matches ring8', async () => {
  const { page, errors } = await open('#backend=cpu');
  assert.equal(await page.evaluate(() => window.scorelab.backend), 'cpu');
  assert.match(await page.textContent('#backend'), /CPU/);
  const { info } = await sampleMatches(page, {
    model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 300 }, n: 2000, seed: 3,
  });
  assert.equal(info.nfe, 600);
  await page.screenshot({ path: 'test-results/cpu-ring8-pc.png' });
  // the probability-flow ODE with RK45 on another preset and SDE
  const ode = await sampleMatches(page, {
    model: 'anisotropic3', sde: { kind: 've' }, sampler: { kind: 'ode' }, n: 2000, seed: 4,
  });
  assert.ok(ode.info.nfe > 20 && ode.info.nfe < 1000, `RK45 NFE ${ode.info.nfe}`);
  assert.deepEqual(errors, []);
  await page.close();
});

await test('CPU backend: step() is a state machine and the state round-trips', async () => {
  const { page, errors } = await open('#backend=cpu');
  const s = { model: 'two-modes', sde: { kind: 'subvp', beta_min: 0.1, beta_max: 20 }, sampler: { kind: 'em', steps: 50, t_end: 0.001 }, n: 100, seed: 7, denoise: true };
  await page.evaluate((x) => window.scorelab.setState(x), s);
  assert.deepEqual(await page.evaluate(() => window.scorelab.state()), s);
  const a = await page.evaluate(() => window.scorelab.step(5));
  assert.equal(a.index, 5);
  assert.equal(a.total, 51);
  assert.ok(a.t < 1 && a.t > 0.89, `t after 5 of 50 steps: ${a.t}`);
  const b = await page.evaluate(() => window.scorelab.step(1000));
  assert.equal(b.done, true);
  assert.equal(b.denoise, true);
  assert.equal(b.nfe, 51);
  // the URL hash now holds the settings: reloading reproduces the same particles
  const first = await page.evaluate(async () => Array.from(await window.scorelab.particles()));
  const url = page.url();
  assert.match(url, /#.*s=/);
  const again = await open(url.slice(url.indexOf('#')));
  assert.deepEqual(await again.page.evaluate(() => window.scorelab.state()), s);
  await again.page.evaluate(() => window.scorelab.run());
  const second = await again.page.evaluate(async () => Array.from(await window.scorelab.particles()));
  assert.deepEqual(second, first);
  assert.deepEqual([...errors, ...again.errors], []);
  await page.close();
  await again.page.close();
});

await test('bad input: a clear message, and the page keeps working', async () => {
  const { page } = await open('#backend=cpu&s=%7Bbad');
  assert.match(await page.textContent('#error'), /invalid hash s/);
  let msg = await page.evaluate(() => window.scorelab.setState({ sampler: { kind: 'pc', steps: 0 } }).then(() => 'ok', (e) => e.message));
  assert.match(msg, /sampler\.steps/);
  msg = await page.evaluate(() => window.scorelab.setState({ sde: { kind: 'wobbly' } }).then(() => 'ok', (e) => e.message));
  assert.match(msg, /wobbly/);
  assert.match(msg, /ve-notebook/);
  msg = await page.evaluate(() => window.scorelab.setState({ n: 0 }).then(() => 'ok', (e) => e.message));
  assert.match(msg, /invalid n/);
  // through the controls: a negative step count shows the message on the page
  await page.evaluate(() => window.scorelab.setState({ sampler: { kind: 'pc' } }));
  const steps = page.locator('#controls label').filter({ hasText: /^\s*steps$/ }).locator('input');
  await steps.fill('-5');
  await steps.dispatchEvent('change');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /sampler\.steps/);
  await page.screenshot({ path: 'test-results/bad-input.png' });
  const info = await page.evaluate(() => window.scorelab.step(3));
  assert.equal(info.index, 3);
  // postMessage commands answer with the same results
  const reply = await page.evaluate(() => new Promise((resolve) => {
    window.addEventListener('message', (e) => { if (e.data && e.data.id === 42 && !e.data.cmd) resolve(e.data); });
    window.postMessage({ id: 42, cmd: 'nonsense' }, '*');
  }));
  assert.match(reply.error, /unknown command/);
  await page.close();
});

await test('embed=1 hides the controls', async () => {
  const { page, errors } = await open('#backend=cpu&embed=1');
  assert.equal(await page.isVisible('#controls'), false);
  assert.equal(await page.isVisible('#plot'), true);
  await page.screenshot({ path: 'test-results/embed.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

await test('in-page training lowers the loss; the trained model samples; a bad file shows a message', async () => {
  const { page, errors } = await open('#backend=cpu');
  const first = await page.evaluate(() => window.scorelab.train(50));
  let last = first;
  for (let i = 0; i < 6; i++) last = await page.evaluate(() => window.scorelab.train(50));
  assert.ok(Number.isFinite(first) && last < first, `loss ${first} -> ${last}`);
  assert.match(await page.textContent('#trainInfo'), /step 350/);
  await page.evaluate(() => window.scorelab.useTrained());
  assert.equal((await page.evaluate(() => window.scorelab.state())).model, 'weights:browser');
  await page.evaluate(() => window.scorelab.setState({ ...window.scorelab.state(), sampler: { kind: 'em', steps: 100 }, n: 500 }));
  const info = await page.evaluate(() => window.scorelab.run());
  assert.equal(info.done, true);
  await page.screenshot({ path: 'test-results/trained-in-page.png' });
  // a file that is not a weight file: a message, and the page keeps its model
  await page.setInputFiles('#weightsFile', { name: 'junk.safetensors', mimeType: 'application/octet-stream', buffer: Buffer.from('not a model at all') });
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /junk/);
  assert.equal((await page.evaluate(() => window.scorelab.state())).model, 'weights:browser');
  assert.deepEqual(errors, []);
  await page.close();
});

await test('a shipped toy model loads from models/ and samples its data set', async () => {
  const { page, errors } = await open('#backend=cpu');
  await page.selectOption('#shipped', 'eight-gaussians-vp');
  await page.waitForFunction(() => window.scorelab.state().model === 'weights:eight-gaussians-vp');
  await page.evaluate(() => window.scorelab.setState({ ...window.scorelab.state(), sampler: { kind: 'pc', steps: 200 }, n: 1000, seed: 3 }));
  await page.evaluate(() => window.scorelab.run());
  const x = await page.evaluate(async () => Array.from(await window.scorelab.particles()));
  // eight Gaussians on a circle of radius 2.8 (std 0.35): the median radius is near 2.8
  const r = [];
  for (let i = 0; i < x.length; i += 2) r.push(Math.hypot(x[i], x[i + 1]));
  r.sort((a, b) => a - b);
  const median = r[r.length >> 1];
  assert.ok(median > 2.4 && median < 3.2, `median radius ${median}`);
  await page.screenshot({ path: 'test-results/shipped-eight-gaussians.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

await test('WebGPU backend (SwiftShader): PC and ODE sampling match the mixture', async () => {
  const { page, errors } = await open('#backend=webgpu');
  assert.equal(await page.evaluate(() => window.scorelab.backend), 'webgpu');
  assert.match(await page.textContent('#backend'), /WebGPU/);
  await sampleMatches(page, { model: 'two-modes', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 100 }, n: 1000, seed: 5 });
  await sampleMatches(page, { model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'ode' }, n: 1000, seed: 6 });
  await page.screenshot({ path: 'test-results/webgpu-ring8-ode.png' });
  assert.deepEqual(errors, []);
  await page.close();
});

await browser.close();
server.close();
if (failed) {
  console.log(`${failed} browser test(s) failed`);
  process.exit(1);
}
console.log('all browser tests passed');
