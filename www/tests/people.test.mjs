// The page for people (issue 22): the introduction, help on every control, legends and
// colour scales, the downloads (checked by the CLI: the .npy it reads, the settings file it
// runs to the same particles), keyboard control, the layout on a projector and a phone, and
// an accessibility audit (axe-core) of the lab and every demo.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { open, test, finish, browser, base, watch } from './harness.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const CLI = process.env.SCORELAB ?? path.join(process.env.CARGO_TARGET_DIR ?? 'target', 'release', 'scorelab');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'scorelab-people-'));

/** Click `selector` and save the download it starts; resolves to the file's path. */
async function download(page, selector, name) {
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 60_000 }), page.click(selector)]);
  const file = path.join(tmp, name ?? dl.suggestedFilename());
  await dl.saveAs(file);
  return file;
}

/** A float32 .npy file's shape and values. */
function readNpy(file) {
  const b = fs.readFileSync(file);
  assert.deepEqual([...b.subarray(0, 6)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], 'npy magic');
  const hlen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + hlen).toString('latin1');
  assert.match(header, /'descr': '<f4'/);
  assert.equal((10 + hlen) % 64, 0, 'header padded to 64 bytes');
  const shape = header.match(/'shape': \(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map(Number);
  const body = b.subarray(10 + hlen);
  const values = new Float32Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength));
  return { shape, values };
}

/** axe-core's serious and critical violations on the page as it is now. */
async function audit(page, what) {
  await page.evaluate(AXE);
  const violations = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 3).map((n) => n.target.join(' ')) }));
  });
  const bad = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  assert.deepEqual(bad, [], `${what}: ${JSON.stringify(bad, null, 1)}`);
}

await test('first visit: an introduction, dismissed once and remembered; "what is this?" shows it again', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = watch(page);
  await page.goto(base + '#backend=cpu');
  await page.waitForFunction(() => window.scorelab?.ready);
  assert.ok(await page.isVisible('#intro'), 'the introduction shows on a first visit');
  assert.match(await page.textContent('#intro'), /score/);
  await page.click('#introClose');
  assert.ok(!(await page.isVisible('#intro')));
  await page.reload();
  await page.waitForFunction(() => window.scorelab?.ready);
  assert.ok(!(await page.isVisible('#intro')), 'remembered: not shown again');
  await page.click('#helpBtn');
  assert.ok(await page.isVisible('#intro'));
  // embedded (a lecturer's slide): never shown
  const embedded = await context.newPage();
  await embedded.evaluate(() => localStorage.clear()).catch(() => undefined);
  await embedded.goto(base + '#backend=cpu&embed=1');
  await embedded.waitForFunction(() => window.scorelab?.ready);
  assert.ok(!(await embedded.isVisible('#intro')));
  assert.deepEqual(errors, []);
  await context.close();
});

await test('every control has its help text; every choice of the settings menus its description', async () => {
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  const missing = async () =>
    page.evaluate(() =>
      Array.from(document.querySelectorAll('#lab input, #lab select, #lab button, #demos button, header button, #demo input, #demo select, #demo button'))
        .filter((e) => !e.closest('[hidden]'))
        .filter((e) => !(e.title || e.closest('label')?.title || e.getAttribute('aria-description')))
        .map((e) => e.id || e.outerHTML.slice(0, 80)),
    );
  assert.deepEqual(await missing(), [], 'lab controls without help');
  const options = await page.evaluate(() => Array.from(document.querySelectorAll('#controls option')).filter((o) => !o.title).map((o) => o.value));
  assert.deepEqual(options, [], 'settings menu options without a description');
  // each sampler's parameters: switch through the samplers and check the rebuilt rows and
  // their menus' options (predictor, corrector, solver, schedule)
  for (const kind of ['em', 'pc', 'langevin', 'ald', 'ode', 'ddim', 'edm', 'dpmpp-2m', 'dpmpp-2s']) {
    await page.evaluate((k) => window.scorelab.setState({ ...window.scorelab.state(), sampler: { kind: k } }), kind);
    const rows = await page.evaluate(() => Array.from(document.querySelectorAll('#controls label')).filter((l) => !l.title).map((l) => l.textContent));
    assert.deepEqual(rows, [], `${kind}: rows without help`);
    const bare = await page.evaluate(() => Array.from(document.querySelectorAll('#controls option')).filter((o) => !o.title).map((o) => o.value));
    assert.deepEqual(bare, [], `${kind}: options without a description`);
  }
  // the help carries the equations (the notation of SCIENCE.md)
  await page.evaluate(() => window.scorelab.setState({ ...window.scorelab.state(), sampler: { kind: 'pc' } }));
  const snr = await page.evaluate(() => Array.from(document.querySelectorAll('#controls label')).find((l) => l.textContent.trim().startsWith('snr'))?.title);
  assert.match(snr, /ε = 2α \(r ‖z‖\/‖s‖\)²/);
  // the demos' controls
  for (const demo of ['pitfall', 'images']) {
    await page.evaluate((d) => window.scorelab.demo(d), demo);
    assert.deepEqual(await missing(), [], `${demo}: controls without help`);
    assert.ok(await page.isVisible('#demo p.look'), `${demo}: what to look for`);
  }
  assert.deepEqual(errors, []);
  await page.close();
});

await test('the legend names what is drawn; every heat map has a colour scale with its units', async () => {
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  await page.evaluate(() => window.scorelab.setState({ ...window.scorelab.state(), model: 'ring8' }));
  assert.match(await page.textContent('#legend'), /samples x/);
  assert.match(await page.textContent('#legend'), /mixture's means/);
  await page.check('#ov-exact');
  await page.check('#ov-density');
  await page.waitForFunction(() => document.getElementById('plot').dataset.heatScale, null, { timeout: 60_000 });
  const scale = await page.getAttribute('#plot', 'data-heat-scale');
  assert.match(scale, /^density p_t\(x\), per unit area: \S+ to \S+$/);
  const legend = await page.textContent('#legend');
  assert.match(legend, /exact score ∇ₓ log p_t\(x\)/);
  assert.match(legend, /heat map: density/);
  // the bar is drawn: its pixels run from light (bottom) to dark (top)
  const [top, bottom] = await page.evaluate(() => {
    const c = document.getElementById('plot');
    const px = (y) => Array.from(c.getContext('2d').getImageData(c.width - 17, y, 1, 1).data.slice(0, 3));
    return [px(28), px(140)];
  });
  assert.ok(top.reduce((a, b) => a + b) < bottom.reduce((a, b) => a + b) - 200, `colour bar ${top} / ${bottom}`);
  assert.match(await page.getAttribute('#plot', 'aria-label'), /heat map of density/);
  // the low-density demo's error map
  await page.evaluate(() => window.scorelab.demo('low-density'));
  await page.waitForFunction(() => window.scorelab.demoState().done === true, null, { timeout: 300_000, polling: 500 });
  const heat = await page.evaluate(() => Array.from(document.querySelectorAll('#demo canvas')).map((c) => c.dataset.heatScale).filter(Boolean));
  assert.ok(heat.length >= 1 && heat.every((h) => /‖s_θ − ∇ log p‖\): \S+ to \S+/.test(h)), JSON.stringify(heat));
  assert.deepEqual(errors, []);
  await page.close();
});

await test('downloads: a PNG, particles the CLI reads, a settings file the CLI runs to the same particles, a GIF; running or empty states get a message', async () => {
  assert.ok(fs.existsSync(CLI), `${CLI}: build the CLI first (make cli), or set SCORELAB`);
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  // nothing recorded yet: a message, no file
  await page.evaluate(() => window.scorelab.setState({ model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 100 }, n: 300, seed: 5, denoise: false }));
  await page.click('#dlGif');
  assert.match(await page.textContent('#error'), /animation \.gif: nothing recorded yet/);
  // running: a message
  await page.click('#play');
  await page.click('#dlNpy');
  assert.match(await page.textContent('#error'), /the sampler is running; pause it first/);
  await page.click('#play');
  await page.evaluate(() => window.scorelab.run());
  const png = fs.readFileSync(await download(page, '#dlPng'));
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.equal(png.readUInt32BE(16), 560, 'PNG width');
  const gif = fs.readFileSync(await download(page, '#dlGif'));
  assert.equal(gif.subarray(0, 6).toString('latin1'), 'GIF89a');
  assert.ok(gif.length > 10_000, `gif of ${gif.length} bytes`);
  const npyFile = await download(page, '#dlNpy');
  const { shape, values } = readNpy(npyFile);
  assert.deepEqual(shape, [300, 2]);
  const particles = await page.evaluate(async () => Array.from(await window.scorelab.particles()));
  assert.deepEqual(Array.from(values), particles.map((v) => Math.fround(v)));
  // the CLI reads the particles
  const ll = path.join(tmp, 'll.npy');
  execFileSync(CLI, ['likelihood', '--model', 'ring8', '--data', npyFile, '--out', ll], { stdio: 'pipe' });
  assert.deepEqual(readNpy(ll).shape, [300]);
  // and runs the settings file to the same particles (the page samples a mixture in f32,
  // the CLI in f64: the same noise, so the same particles up to rounding)
  const config = await download(page, '#dlConfig');
  assert.match(await page.textContent('#note'), /scorelab sample --config/);
  const out = path.join(tmp, 'cli.npy');
  execFileSync(CLI, ['sample', '--config', config, '--out', out], { stdio: 'pipe' });
  const cli = readNpy(out);
  assert.deepEqual(cli.shape, [300, 2]);
  const diffs = Array.from(cli.values, (v, i) => Math.abs(v - particles[i])).sort((a, b) => a - b);
  const median = diffs[diffs.length >> 1];
  const p99 = diffs[Math.floor(diffs.length * 0.99)];
  console.log(`     page vs CLI particles: median |Δ| ${median.toExponential(2)}, 99th percentile ${p99.toExponential(2)}, max ${diffs.at(-1).toExponential(2)}`);
  // measured: median 4.8e-7, 99th percentile 1.2e-5, max 9.0e-5 (f32 rounding through 100 PC
  // steps); a different seed or setting differs by O(1)
  assert.ok(median < 1e-5 && diffs.at(-1) < 1e-3, `page and CLI particles differ: median ${median}, 99th percentile ${p99}, max ${diffs.at(-1)}`);
  assert.deepEqual(errors.filter((e) => !/pause it first|nothing recorded/.test(e)), []);
  await page.close();
});

await test('keyboard: space plays and pauses, → steps, ← steps back; not while typing in a field', async () => {
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  await page.evaluate(() => window.scorelab.setState({ ...window.scorelab.state(), sampler: { kind: 'pc', steps: 400 } }));
  const index = () => page.evaluate(() => window.scorelab.info()?.index ?? 0);
  await page.click('#plot'); // focus on the page, not a control
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => (window.scorelab.info()?.index ?? 0) === 1);
  await page.keyboard.press('ArrowRight');
  await page.waitForFunction(() => (window.scorelab.info()?.index ?? 0) === 2);
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction(() => /replaying frame 1/.test(document.getElementById('info').textContent));
  await page.keyboard.press(' ');
  await page.waitForFunction(() => (window.scorelab.info()?.index ?? 0) > 10, null, { timeout: 60_000 });
  await page.keyboard.press(' ');
  await page.waitForTimeout(300);
  const paused = await index();
  await page.waitForTimeout(500);
  assert.equal(await index(), paused, 'space paused the player');
  // typing in a field: the keys are the field's
  const seed = page.locator('#controls input[type=number]').last();
  await seed.focus();
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press(' ');
  await page.waitForTimeout(300);
  assert.equal(await index(), paused, 'keys in a field do not drive the player');
  assert.equal(await page.textContent('#play'), 'play');
  assert.deepEqual(errors, []);
  await page.close();
});

await test('usable on a projector (1280x720) and at a phone\'s width (390 px)', async () => {
  for (const viewport of [{ width: 1280, height: 720 }, { width: 390, height: 844 }]) {
    const { page, errors } = await open('#backend=cpu', viewport);
    const r = await page.evaluate(() => {
      const plot = document.getElementById('plot').getBoundingClientRect();
      const play = document.getElementById('play').getBoundingClientRect();
      return { overflow: document.documentElement.scrollWidth - window.innerWidth, plotRight: plot.right, plotWidth: plot.width, playBottom: play.bottom, vw: window.innerWidth };
    });
    assert.ok(r.overflow <= 0, `${viewport.width}: the page scrolls sideways by ${r.overflow} px`);
    assert.ok(r.plotRight <= r.vw && r.plotWidth >= Math.min(300, r.vw - 40), `${viewport.width}: plot ${r.plotWidth} px ending at ${r.plotRight}`);
    if (viewport.width === 1280) {
      // close the introduction: the plot and its player then fit on the projected screen
      await page.click('#introClose');
      const bottom = await page.evaluate(() => document.getElementById('play').getBoundingClientRect().bottom);
      assert.ok(bottom <= 720, `the player ends at ${bottom} px, below a 720 px screen`);
    }
    assert.deepEqual(errors, []);
    await page.close();
  }
});

await test('the training data is previewed', async () => {
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  await page.waitForFunction(() => /500 points/.test(document.getElementById('dataPreview').getAttribute('aria-label') ?? ''));
  await page.selectOption('#trainData', 'moons');
  await page.waitForFunction(() => /moons: 500 points/.test(document.getElementById('dataPreview').getAttribute('aria-label') ?? ''));
  const title = await page.evaluate(() => document.querySelector('#trainData option[value=moons]').title);
  assert.match(title, /half circles/);
  assert.deepEqual(errors, []);
  await page.close();
});

await test('accessibility audit (axe-core): the lab and every demo, no serious or critical violations', async () => {
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  await audit(page, 'the lab');
  for (const demo of ['pitfall', 'sde-vs-ode', 'low-density', 'manifold', 'bakeoff', 'images']) {
    await page.evaluate((d) => window.scorelab.demo(d), demo);
    await page.waitForTimeout(500);
    await audit(page, `demo ${demo}`);
  }
  await page.evaluate(() => window.scorelab.demo('lab'));
  assert.deepEqual(errors, []);
  await page.close();
});

fs.rmSync(tmp, { recursive: true, force: true });
await finish('people');
