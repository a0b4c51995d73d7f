// Browser benchmark: the built page (dist/) in headless Chromium, toy sampling steps/s and
// training steps/s on WebGPU (SwiftShader here; a real GPU elsewhere) and on the wasm CPU
// backend, next to the native CLI on the same machine, as ratios. Not part of CI:
//
//   make page && node www/bench/page-bench.mjs [path/to/scorelab]
//
// Sampling: ring8 (exact mixture), VP, Euler–Maruyama, 1000 particles, 500 steps.
// Training: the page's toy MLP (3 x 128), DSM, batch 256, 300 steps after 20 warm-up steps.
// The CPU backend twice: on wasm threads (served cross-origin isolated, as `make serve` does)
// and on one thread (served without the headers, service workers blocked).
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { serve } from '../tests/serve.mjs';

const CLI = process.argv[2] ?? `${process.env.CARGO_TARGET_DIR ?? 'target'}/release/scorelab`;
const server = await serve('dist');
const base = `http://127.0.0.1:${server.address().port}/`;
const plainServer = await serve('dist', 0, false);
const plain = `http://127.0.0.1:${plainServer.address().port}/`;
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--enable-unsafe-webgpu', '--no-sandbox'], headless: true });
const oneThread = await browser.newContext({ serviceWorkers: 'block' });

/** A page of the isolated server (the threaded CPU module), or of the plain one (one thread). */
async function newPage(threads = true) {
  return threads ? browser.newPage() : oneThread.newPage();
}

async function measure(backend, threads = true) {
  const page = await newPage(threads);
  await page.goto(`${threads ? base : plain}#backend=${backend}`);
  await page.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000 });
  return page.evaluate(async () => {
    const api = window.scorelab;
    await api.setState({ model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'em', steps: 500 }, n: 1000, seed: 0 });
    await api.step(10);
    let t0 = performance.now();
    await api.run();
    await api.particles();
    const sampling = 490 / ((performance.now() - t0) / 1000);
    await api.train(20);
    t0 = performance.now();
    for (let i = 0; i < 3; i++) await api.train(100);
    const training = 300 / ((performance.now() - t0) / 1000);
    const threads = document.body.dataset.threads;
    return { backend: api.backend === 'cpu' ? `cpu (wasm, ${threads} thread${threads === '1' ? '' : 's'})` : api.backend, sampling, training };
  });
}

function native() {
  const dir = fs.mkdtempSync(`${os.tmpdir()}/scorelab-bench-`);
  let t0 = performance.now();
  execFileSync(CLI, ['sample', '--model', 'ring8', '--sde', 'vp', '--sampler', 'em', '--steps', '500', '--n', '1000', '--out', `${dir}/s.npy`], { stdio: 'ignore' });
  const sampling = 500 / ((performance.now() - t0) / 1000);
  t0 = performance.now();
  execFileSync(CLI, ['train', '--data', 'ring8', '--model', 'mlp', '--sde', 'vp', '--steps', '320', '--batch', '256', '--out', `${dir}/m.safetensors`, '--log', '/dev/null'], { stdio: 'ignore' });
  const training = 320 / ((performance.now() - t0) / 1000);
  return { backend: 'native CLI (CPU, f64 sampling / f32 training, process start included)', sampling, training };
}

/** Time to `scorelab.ready` (navigation start to the page answering), best of three. */
async function ready(threads = true) {
  let best = Infinity;
  for (let i = 0; i < 3; i++) {
    const page = await newPage(threads);
    await page.goto(`${threads ? base : plain}#backend=cpu`);
    await page.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000, polling: 10 });
    best = Math.min(best, await page.evaluate(() => performance.now()));
    await page.close();
  }
  return best / 1000;
}

/** The image lab: 16 digits with the shipped U-Net, PC at `steps` (every step drawn), seconds. */
async function imageLab(backend, threads = true) {
  const page = await newPage(threads);
  await page.goto(`${threads ? base : plain}#backend=${backend}&demo=images`);
  await page.waitForFunction(() => window.scorelab?.demoState().done, null, { timeout: 600_000 });
  const at100 = await page.evaluate(() => window.scorelab.demoState().seconds);
  await page.fill('#imgSteps', '500');
  await page.click('#imgRun');
  await page.waitForFunction(() => !window.scorelab.demoState().done, null, { timeout: 60_000 }).catch(() => {});
  await page.waitForFunction(() => window.scorelab.demoState().done, null, { timeout: 900_000 });
  const at500 = await page.evaluate(() => window.scorelab.demoState().seconds);
  await page.close();
  return { at100, at500 };
}

const rows = [await measure('cpu'), await measure('cpu', false), await measure('webgpu').catch((e) => ({ backend: `webgpu: ${e.message}`, sampling: NaN, training: NaN })), native()];
const ref = rows.at(-1);
console.log('| backend | sampling steps/s | training steps/s | sampling vs native | training vs native |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(`| ${r.backend} | ${r.sampling.toFixed(1)} | ${r.training.toFixed(1)} | ${(r.sampling / ref.sampling).toFixed(2)}x | ${(r.training / ref.training).toFixed(2)}x |`);
console.log('');
for (const threads of [true, false]) {
  const what = threads ? 'wasm threads' : 'one thread';
  const readySeconds = await ready(threads);
  const img = await imageLab('cpu', threads);
  console.log(`page ready (CPU module on ${what}, navigation to scorelab.ready, best of 3): ${readySeconds.toFixed(2)} s`);
  console.log(`image lab, CPU on ${what}, 16 digits (shipped U-Net, PC, every step drawn): 100 steps ${img.at100.toFixed(1)} s, 500 steps ${img.at500.toFixed(1)} s`);
}
await browser.close();
server.close();
plainServer.close();
