// Browser tests of the defects a first visit met (issue 18): layout at laptop, desktop and
// slide sizes, one demo run at a time, memory that stays flat, links that keep their good
// keys, an API that waits for the page, weight files that go where they can run, the Marp
// deck rendered by marp-cli with every frame inside its slide, the manifold demo's claim,
// readable trajectories, and the small things. Screenshots of the lab and every demo at the
// three sizes go to test-results/layout-*.png.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { open, test, finish, browser, base, watch } from './harness.mjs';
import { serve } from './serve.mjs';

const DEMOS = ['pitfall', 'manifold', 'low-density', 'sde-vs-ode', 'bakeoff', 'images'];
const SIZES = [
  { name: '1280x800', width: 1280, height: 800 },
  { name: '1920x1080', width: 1920, height: 1080 },
];

/** The visible plots and controls of a page or frame, in its own viewport's coordinates. */
async function boxes(target, selector = 'canvas, button, select, input') {
  return target.evaluate((sel) => {
    const out = [];
    for (const el of document.querySelectorAll(sel)) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || getComputedStyle(el).visibility === 'hidden') continue;
      out.push({ id: el.id || `${el.tagName.toLowerCase()} '${(el.textContent || el.getAttribute('type') || '').trim().slice(0, 24)}'`, x: r.left, y: r.top, r: r.right, b: r.bottom, inPanel: !!el.closest('#trainPanel, #overlayPanel, #downloads, #frontierPanel') });
    }
    return { w: innerWidth, h: innerHeight, out };
  }, selector);
}

function assertInside(b, what, { vertical = true } = {}) {
  for (const e of b.out) {
    const ok = e.x >= -1 && e.r <= b.w + 1 && (!vertical || (e.y >= -1 && e.b <= b.h + 1));
    assert.ok(ok, `${what}: ${e.id} at [${e.x.toFixed(0)}, ${e.y.toFixed(0)}]-[${e.r.toFixed(0)}, ${e.b.toFixed(0)}] is outside the ${b.w}x${b.h} viewport`);
  }
}

/** Wait for a demo's results (or `ms` at most, for the slow ones), polling its state. */
async function settle(target, ms) {
  await target.waitForFunction(() => window.scorelab.demoState().done === true || window.scorelab.demoState().step >= 2, null, { timeout: ms, polling: 250 }).catch(() => undefined);
}

await test('layout: the plot stays beside the settings at 1280x800 and 1920x1080, the lab and every demo fit the width; screenshots', async () => {
  for (const size of SIZES) {
    const { page, errors } = await open('#backend=cpu', size);
    // a run to the end: its one-line report once pushed the plot below the settings
    await page.evaluate(() => window.scorelab.setState({ model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 100 }, n: 1000, seed: 1 }));
    await page.evaluate(() => window.scorelab.run());
    assert.match(await page.textContent('#report'), /sliced W2/);
    const plot = await page.locator('#plot').boundingBox();
    const controls = await page.locator('#controls').boundingBox();
    assert.ok(plot.x >= controls.x + controls.width, `${size.name}: the plot (x ${plot.x}) is not beside the settings (right edge ${controls.x + controls.width})`);
    assert.ok(plot.y < controls.y + 50, `${size.name}: the plot starts at y ${plot.y}, below the settings' top ${controls.y}`);
    const b = await boxes(page);
    assertInside(b, `lab ${size.name}`, { vertical: false });
    // the plot and the player are on the first screen
    assertInside({ ...b, out: b.out.filter((e) => !e.inPanel) }, `lab ${size.name} (plot and player)`);
    await page.screenshot({ path: `test-results/layout-lab-${size.name}.png` });
    for (const name of DEMOS) {
      await page.evaluate((n) => { window.scorelab.demo(n).catch((e) => { window.__demoError = e.message; }); }, name);
      await page.waitForFunction((n) => document.body.dataset.demo === n && document.querySelector('#demo canvas'), name);
      await settle(page, name === 'pitfall' || name === 'sde-vs-ode' ? 60_000 : 3000);
      assertInside(await boxes(page), `demo ${name} ${size.name}`);
      // the header names the demo, not the lab's model
      assert.match(await page.textContent('#about'), /^demo: /, `header in demo ${name}`);
      await page.screenshot({ path: `test-results/layout-${name}-${size.name}.png` });
    }
    await page.evaluate(() => window.scorelab.demo('lab'));
    assert.match(await page.textContent('#about'), /ring/);
    assert.equal(await page.evaluate(() => window.__demoError), undefined);
    assert.deepEqual(errors, []);
    await page.close();
  }
});

await test('layout: the lab and every demo fit a 1100x620 iframe (controls and plots inside it); screenshots', async () => {
  const host = await browser.newPage({ viewport: { width: 1140, height: 660 } });
  const errors = watch(host);
  await host.setContent('<body style="margin:0"><iframe id="f" width="1100" height="620" style="border:0"></iframe></body>');
  const cases = [['lab', '#backend=cpu&embed=1'], ...DEMOS.map((d) => [d, `#backend=cpu&demo=${d}&hide=header,demos`])];
  for (const [name, hash] of cases) {
    // a new document for each case (a change of hash alone would not reload the page)
    await host.evaluate((src) => { document.getElementById('f').src = src; }, `${base}?case=${name}${hash}`);
    const frame = await (await host.$('#f')).contentFrame();
    await frame.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000 });
    if (name === 'lab') {
      await frame.evaluate(() => window.scorelab.setState({ model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 100 }, n: 1000, seed: 1 }));
      await frame.evaluate(() => window.scorelab.run());
      assert.match(await frame.textContent('#report'), /sliced W2/);
    } else {
      await frame.waitForFunction(() => document.querySelector('#demo canvas'));
      await settle(frame, name === 'pitfall' || name === 'sde-vs-ode' ? 60_000 : 4000);
    }
    await host.waitForTimeout(300); // the fit runs on the next animation frame
    await host.screenshot({ path: `test-results/layout-${name}-1100x620-frame.png` });
    const b = await boxes(frame);
    assert.equal(b.w, 1100);
    assertInside(b, `${name} in a 1100x620 frame`);
  }
  assert.deepEqual(errors, []);
  await host.close();
});

await test('demos: one run in flight, superseded runs cancelled, no uncaught errors, memory flat', async () => {
  const { page, errors } = await open('#backend=cpu&demo=pitfall', { width: 1280, height: 800 });
  await page.waitForFunction(() => window.scorelab.demoState().done === true, null, { timeout: 120_000, polling: 250 });
  const mem0 = await page.evaluate(() => window.scorelab.memory()['demo pitfall']);
  // ten arrow presses on the slider, as fast as keys come: each one supersedes the last run
  await page.focus('#pi');
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowLeft');
  await page.click('#pitfallRun');
  await page.click('#pitfallRun');
  await page.waitForFunction(() => window.scorelab.demoState().done === true && window.scorelab.demoState().inFlight === 0, null, { timeout: 120_000, polling: 250 });
  const s = await page.evaluate(() => window.scorelab.demoState());
  assert.equal(s.maxInFlight, 1, 'runs overlapped');
  assert.ok(Math.abs(s.pi - 0.3) < 1e-9, `the last value wins: π = ${s.pi}`);
  assert.ok(s.runs <= 13, `${s.runs} runs started for 13 presses`);
  const mem1 = await page.evaluate(() => window.scorelab.memory()['demo pitfall']);
  assert.ok(mem1 - mem0 < 20e6, `the pitfall worker grew from ${mem0} to ${mem1} bytes`);
  // switching demo while a run is in flight: the worker is terminated, nothing is uncaught
  await page.keyboard.press('ArrowRight');
  await page.evaluate(() => window.scorelab.demo('bakeoff').catch(() => undefined));
  await page.waitForFunction(() => window.scorelab.demoState().curves, null, { timeout: 60_000 });
  // the bake-off's train clicked twice: still one run at a time
  await page.click('#bakeoffRun');
  await page.click('#bakeoffRun');
  await page.waitForFunction(() => window.scorelab.demoState().done === true && window.scorelab.demoState().inFlight === 0, null, { timeout: 180_000, polling: 250 });
  assert.equal(await page.evaluate(() => window.scorelab.demoState().maxInFlight), 1);
  // the image lab's sample clicked twice
  await page.evaluate(() => window.scorelab.demo('images').catch(() => undefined));
  await page.waitForFunction(() => window.scorelab.demoState().step >= 1, null, { timeout: 120_000, polling: 250 });
  await page.click('#imgRun');
  await page.click('#imgRun');
  await page.waitForFunction(() => window.scorelab.demoState().step >= 2, null, { timeout: 120_000, polling: 250 });
  assert.equal(await page.evaluate(() => window.scorelab.demoState().maxInFlight), 1);
  await page.evaluate(() => window.scorelab.demo('lab'));
  await page.waitForTimeout(500);
  assert.deepEqual(errors, []);
  await page.close();
});

await test('the lab sampler: worker memory flat over 20 runs', async () => {
  const { page, errors } = await open('#backend=cpu');
  const mem = [];
  for (let i = 0; i < 20; i++) {
    await page.evaluate((seed) => window.scorelab.setState({ ...window.scorelab.state(), seed }), i);
    await page.evaluate(() => window.scorelab.run());
    mem.push(await page.evaluate(() => window.scorelab.memory().lab));
  }
  console.log(`     lab worker memory over 20 runs of the default PC sampler (MB): ${mem.map((m) => (m / 1e6).toFixed(0)).join(' ')}`);
  // the first runs size the heap; after that it must not grow (it grew 20-40 MB per run)
  assert.ok(mem[19] - mem[2] < 8e6, `the lab worker grew from ${mem[2]} to ${mem[19]} bytes over 17 runs`);
  assert.deepEqual(errors, []);
  await page.close();
});

await test('a link with one bad key keeps the good ones and names the bad one', async () => {
  for (const [hash, want] of [['#backend=cpu&k=abc', /invalid hash k: 'abc'/], ['#backend=cpu&demo=nope', /invalid hash demo: 'nope'/], ['#backend=cpu&wibble=2&hide=train', /invalid hash key 'wibble'/]]) {
    const { page } = await open(hash);
    assert.equal(await page.evaluate(() => window.scorelab.backend), 'cpu', `${hash}: the backend was lost`);
    assert.match(await page.textContent('#error'), want);
    assert.match(await page.textContent('#error'), /the rest of the link is used/);
    if (hash.includes('hide=train')) assert.equal(await page.isVisible('#trainPanel'), false);
    await page.close();
  }
});

await test('API calls made before the page is ready wait for it; sync readers say what to do; backend reads loading', async () => {
  const page = await browser.newPage();
  const errors = watch(page);
  // as a slide deck driving the page on load would: the first thing the page's script allows
  await page.addInitScript(() => {
    window.__early = { log: [] };
    const poll = setInterval(() => {
      if (!window.scorelab) return;
      clearInterval(poll);
      const s = window.scorelab;
      window.__early.backend = s.backend;
      try { s.state(); window.__early.state = 'returned'; } catch (e) { window.__early.state = e.message; }
      window.__early.step = s.setState({ model: 'ring8', sampler: { kind: 'em', steps: 20 }, n: 100 }).then(() => s.step(3)).then((i) => i.index, (e) => e.message);
      window.addEventListener('message', (ev) => { if (ev.data && ev.data.id === 7 && !ev.data.cmd) window.__early.reply = ev.data; });
      window.postMessage({ id: 7, cmd: 'step', args: [2] }, '*');
    }, 0);
  });
  await page.goto(base + '#backend=cpu');
  await page.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000 });
  const early = await page.evaluate(async () => ({ ...window.__early, step: await window.__early.step }));
  assert.equal(early.backend, 'loading');
  assert.match(early.state, /still loading.*whenReady/);
  assert.equal(typeof early.step, 'number', `early step: ${early.step}`);
  await page.waitForFunction(() => window.__early.reply);
  const reply = await page.evaluate(() => window.__early.reply);
  assert.equal(reply.error, undefined, reply.error);
  assert.ok(reply.result.index >= 2);
  assert.equal(await page.evaluate(() => window.scorelab.backend), 'cpu');
  assert.deepEqual(errors, []);
  await page.close();
});

await test('a weight file routes to the lab that can run it: MNIST to the image lab, a 2-D network to the lab', async () => {
  const { page, errors } = await open('#backend=cpu');
  const before = await page.evaluate(() => window.scorelab.state().model);
  await page.setInputFiles('#weightsFile', 'models/mnist-unet-ve.safetensors');
  await page.waitForFunction(() => document.body.dataset.demo === 'images' && window.scorelab.demoState().step >= 1, null, { timeout: 120_000, polling: 250 });
  assert.equal(await page.evaluate(() => window.scorelab.demoState().model), 'mnist-unet-ve');
  assert.match(await page.textContent('#note'), /image model .* image lab/);
  // the lab's model is untouched
  await page.evaluate(() => window.scorelab.demo('lab'));
  assert.equal(await page.evaluate(() => window.scorelab.state().model), before);
  // a 2-D network dropped while a demo is open goes to the lab
  await page.evaluate(() => window.scorelab.demo('sde-vs-ode').catch(() => undefined));
  await page.evaluate(async () => {
    const bytes = new Uint8Array(await (await fetch('models/toy/moons-vp.safetensors')).arrayBuffer());
    await window.scorelab.openWeights('moons-vp', bytes);
  });
  assert.equal(await page.evaluate(() => document.body.dataset.demo), 'lab');
  assert.equal(await page.evaluate(() => window.scorelab.state().model), 'weights:moons-vp');
  // the pretrained list offers the MNIST model too, and it opens the image lab
  await page.selectOption('#shipped', 'mnist');
  await page.waitForFunction(() => document.body.dataset.demo === 'images');
  await page.evaluate(() => window.scorelab.demo('lab'));
  assert.deepEqual(errors, []);
  await page.close();
});

await test('the Marp deck rendered with marp-cli: every frame and its controls and plots inside its 1280x720 slide', async () => {
  fs.mkdirSync('test-results/slides', { recursive: true });
  execFileSync('node_modules/.bin/marp', ['--html', 'docs/slides.md', '-o', 'test-results/slides/slides.html'], { stdio: 'pipe' });
  // the deck points at `make serve`'s address; here the page is served on another port
  const html = fs.readFileSync('test-results/slides/slides.html', 'utf8');
  const frames = html.match(/<iframe /g)?.length ?? 0;
  assert.ok(frames >= 3, `${frames} frames in the deck`);
  // (and the deck's own page asks for no favicon, which this server would answer with a 404)
  fs.writeFileSync('test-results/slides/slides.html', html.replaceAll('http://127.0.0.1:4173/', base).replace('<head>', '<head><link rel="icon" href="data:,">'));
  // (served as a lecturer's deck is: no isolation headers, so the framed pages run on one thread)
  const deck = await serve('test-results/slides', 0, false);
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const errors = watch(page);
  try {
    await page.goto(`http://127.0.0.1:${deck.address().port}/slides.html`);
    const slides = await page.locator('svg[data-marpit-svg]').count();
    let checked = 0;
    for (let k = 1; k <= slides; k++) {
      await page.goto(`http://127.0.0.1:${deck.address().port}/slides.html#${k}`);
      await page.waitForTimeout(300);
      const active = page.locator('.bespoke-marp-active');
      const iframe = active.locator('iframe');
      if ((await iframe.count()) === 0) continue;
      const slideBox = await active.boundingBox();
      const frameBox = await iframe.boundingBox();
      assert.ok(frameBox.x >= slideBox.x - 1 && frameBox.y >= slideBox.y - 1 && frameBox.x + frameBox.width <= slideBox.x + slideBox.width + 1 && frameBox.y + frameBox.height <= slideBox.y + slideBox.height + 1,
        `slide ${k}: the frame [${frameBox.x}, ${frameBox.y}] ${frameBox.width}x${frameBox.height} leaves the slide [${slideBox.x}, ${slideBox.y}] ${slideBox.width}x${slideBox.height}`);
      const frame = await (await iframe.elementHandle()).contentFrame();
      await frame.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000 });
      if (await frame.evaluate(() => document.body.dataset.demo && document.body.dataset.demo !== 'lab')) await settle(frame, 60_000);
      else {
        // slide 1: "press play in the frame" — the play button is there and runs the sampler
        assert.equal(await frame.isVisible('#play'), true, `slide ${k}: no play button`);
        await frame.click('#play');
        await frame.waitForFunction(() => /done/.test(document.getElementById('info').textContent), null, { timeout: 120_000 });
      }
      await page.waitForTimeout(300);
      const b = await boxes(frame);
      assertInside(b, `slide ${k}'s frame`);
      // and the frame's content is really on the slide (the frame may be scaled)
      assert.ok(b.w <= frameBox.width + 1 && b.h <= frameBox.height + 1);
      await page.screenshot({ path: `test-results/slide-${k}.png` });
      checked++;
    }
    assert.equal(checked, frames, 'every frame was checked');
  } finally {
    deck.close();
  }
  assert.deepEqual(errors, []);
  await page.close();
});

await test('the manifold demo: |s| blows up near the noise-free circle as t -> 0 and stays finite with noise', async () => {
  const { page, errors } = await open('#backend=cpu&demo=manifold', { width: 1280, height: 800 });
  await page.waitForFunction(() => window.scorelab.demoState().done === true, null, { timeout: 240_000, polling: 500 });
  const { peaks } = await page.evaluate(() => window.scorelab.demoState());
  await page.screenshot({ path: 'test-results/demo-manifold-profile.png' });
  const at = (noise, t, key = 'peak') => peaks.find((p) => p.noise === noise && p.t === t)[key];
  const row = (noise, key) => [0.3, 0.1, 0.01].map((t) => at(noise, t, key).toFixed(1)).join(' / ');
  console.log(`     max |s| within 0.25 of the circle, t = 0.3 / 0.1 / 0.01: no noise ${row(0, 'peak')} (exact ${row(0, 'exact')}), noisy ${row(0.3, 'peak')} (exact ${row(0.3, 'exact')})`);
  // the claim, on the exact scores of the two training sets smoothed by N(0, σ(t)²): without
  // noise |s| near the circle grows like 1/σ(t) (σ(0.3)/σ(0.01) = 11.7); with noise it stays
  // at about d/0.3² (2.8 at d = 0.25)
  assert.ok(at(0, 0.01, 'exact') > 8 * at(0, 0.3, 'exact'), 'exact, no noise: |s| near the circle grows as t -> 0');
  assert.ok(at(0.3, 0.01, 'exact') < 1.5 * at(0.3, 0.3, 'exact') && at(0.3, 0.01, 'exact') < 4, 'exact, noisy: |s| near the circle stays finite');
  // and the trained networks show it: the noise-free field is far larger at small t
  assert.ok(at(0, 0.01) > 3 * at(0, 0.3), 'network, no noise: |s| near the circle grows as t -> 0');
  assert.ok(at(0, 0.01) > 2 * at(0.3, 0.01), 'networks at t = 0.01: the noise-free field is larger');
  assert.deepEqual(errors, []);
  await page.close();
});

await test('trajectories with 1,000 particles: a few followed, drawn incrementally', async () => {
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  await page.evaluate(() => window.scorelab.setState({ model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 300 }, n: 1000, seed: 4 }));
  await page.evaluate(() => window.scorelab.overlays({ trails: true }));
  const t0 = Date.now();
  await page.click('#play');
  await page.waitForFunction(() => /done/.test(document.getElementById('info').textContent), null, { timeout: 120_000 });
  const withTrails = Date.now() - t0;
  // play, pause, play as fast as clicks come: one player loop, never two
  await page.evaluate(() => window.scorelab.setState({ ...window.scorelab.state() }));
  await page.click('#play');
  await page.click('#play');
  await page.click('#play');
  await page.waitForTimeout(300); // a superseded loop ends after the step it is in
  const loops = await page.evaluate(() => window.scorelab.loopsRunning());
  assert.ok(loops <= 1, `${loops} player loops after play, pause, play`);
  await page.waitForFunction(() => /done/.test(document.getElementById('info').textContent), null, { timeout: 120_000 });
  const stats = await page.evaluate(() => window.scorelab.trailStats());
  assert.ok(stats.followed > 0 && stats.followed <= 40, `${stats.followed} trajectories`);
  // each frame draws only its new segments (one per followed particle), not the whole history
  assert.ok(stats.lastSegments <= stats.followed, `${stats.lastSegments} segments in the last frame`);
  await page.screenshot({ path: 'test-results/lab-trails-1000.png' });
  await page.evaluate(() => window.scorelab.overlays({ trails: false }));
  await page.evaluate(() => window.scorelab.setState({ ...window.scorelab.state() }));
  const t1 = Date.now();
  await page.click('#play');
  await page.waitForFunction(() => /done/.test(document.getElementById('info').textContent), null, { timeout: 120_000 });
  console.log(`     play, 300 PC steps, 1,000 particles: ${(withTrails / 1000).toFixed(1)} s with trajectories, ${((Date.now() - t1) / 1000).toFixed(1)} s without`);
  assert.deepEqual(errors, []);
  await page.close();
});

await test('small things: header, one click one point, off-plot warning, refused files, fields, loss chart, step count, learned score, software WebGPU', async () => {
  const { page, errors } = await open('#backend=cpu', { width: 1280, height: 800 });
  // one click in "draw data" adds one point
  await page.check('#drawMode');
  await page.locator('#plot').scrollIntoViewIfNeeded();
  const plot = await page.locator('#plot').boundingBox();
  await page.mouse.click(plot.x + plot.width / 2, plot.y + plot.height / 2);
  assert.match(await page.textContent('#trainInfo'), /^1 drawn points/);
  await page.uncheck('#drawMode');
  // samples off the plot are counted, not silently lost
  await page.evaluate(() => window.scorelab.setState({ model: 'mixture', mixture: { weights: [1], means: [[14, 0]], covs: [1] }, sampler: { kind: 'em', steps: 50 }, n: 200, seed: 1 }));
  await page.evaluate(() => window.scorelab.run());
  assert.match(await page.textContent('#plotWarning'), /of 200 particles lie outside the plotted square/);
  // "learned score" and "score error" are for networks: off for an exact mixture
  assert.equal(await page.isDisabled('#ov-model'), true);
  assert.equal(await page.isDisabled('#ov-error'), true);
  // asking for 100 steps shows "/ 100" (the denoising step is named apart)
  await page.evaluate(() => window.scorelab.setState({ model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 100 }, n: 200, seed: 1, denoise: true }));
  await page.evaluate(() => window.scorelab.step(5));
  assert.match(await page.textContent('#info'), /step 5 \/ 100 /);
  await page.evaluate(() => window.scorelab.run());
  assert.match(await page.textContent('#info'), /step 100 \/ 100 \+ denoising step/);
  // a refused number stays out of the field; an empty one is not "0"
  const particles = page.locator('#controls label').filter({ hasText: /^particles/ }).locator('input');
  await particles.fill('-5');
  await particles.dispatchEvent('change');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error'), /invalid n/);
  assert.equal(await page.locator('#controls label').filter({ hasText: /^particles/ }).locator('input').inputValue(), '200');
  const betaMin = page.locator('#controls label').filter({ hasText: /beta_min/ }).locator('input');
  await betaMin.fill('');
  await betaMin.dispatchEvent('change');
  await page.waitForFunction(() => /sde\.beta_min: empty/.test(document.getElementById('error').textContent));
  assert.equal(await page.locator('#controls label').filter({ hasText: /beta_min/ }).locator('input').inputValue(), '0.1');
  // after a refused points file, training says so instead of using the set chosen before
  await page.setInputFiles('#dataFile', { name: 'bad.csv', mimeType: 'text/csv', buffer: Buffer.from('1,2,3\n') });
  await page.waitForSelector('#error:not([hidden])');
  const msg = await page.evaluate(() => window.scorelab.train(10).then(() => 'trained', (e) => e.message));
  assert.match(msg, /uploaded data: .*bad\.csv: 3 columns; accepted: 2/);
  // the loss chart has points from the first chunk on
  await page.selectOption('#trainData', 'moons');
  await page.click('#trainBtn');
  await page.waitForFunction(() => window.scorelab.lossHistory().at(-1)?.step === 100);
  assert.ok((await page.evaluate(() => window.scorelab.lossHistory().length)) >= 4, 'loss points after 100 steps');
  // a points file dropped while training runs: refused with a message, training goes on
  await page.evaluate(() => { window.__long = window.scorelab.train(3000).then(() => 'finished', (e) => e.message); });
  await page.waitForFunction(() => window.scorelab.lossHistory().at(-1)?.step >= 150);
  await page.setInputFiles('#dataFile', { name: 'more.csv', mimeType: 'text/csv', buffer: Buffer.from('1,2\n3,4\n5,6\n') });
  await page.waitForFunction(() => /more\.csv: training is running/.test(document.getElementById('error').textContent));
  await page.evaluate(() => window.scorelab.cancel());
  assert.match(await page.evaluate(() => window.__long), /cancelled/);
  // with a network loaded, the learned score can be drawn
  await page.evaluate(() => window.scorelab.useTrained());
  assert.equal(await page.isDisabled('#ov-model'), false);
  assert.deepEqual(errors, []);
  await page.close();
  // WebGPU on a software adapter (SwiftShader here) is not the default; the page says why
  const auto = await open('', { width: 1280, height: 800 });
  assert.equal(await auto.page.evaluate(() => window.scorelab.backend), 'cpu');
  assert.match(await auto.page.textContent('#note'), /software adapter/);
  assert.deepEqual(auto.errors, []);
  await auto.page.close();
});

await finish('page-defect');
