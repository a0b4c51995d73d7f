// The lectures' demos, each one click (or one link: #demo=NAME) away. Each builds its own
// panel in #demo with its own sessions in its own web worker (a `Remote`); opening another
// demo terminates that worker, which cancels whatever the running one computes.
import { Cancelled, Remote, type Session, type StepInfo, type Training } from './wasm';
import { drawScene, drawLines, drawDigits, gridPoints, type Scene } from './plot';
import type { Playground } from './main';

const VIEW = { lo: -10, hi: 10 };
let generation = 0;
/** The open demo's workers. */
let workers: Remote[] = [];
export const demoWorkers = (): Remote[] => workers.slice();

/** Handles the tests and slide decks read through `window.scorelab.demo`. */
export const demoState: Record<string, unknown> = {};
/** Functions a demo offers to scripts (`window.scorelab.demoCall(name, ...args)`). */
export const demoHooks: Record<string, (...args: any[]) => unknown> = {};

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

function canvas(id: string, size = 360): HTMLCanvasElement {
  return el('canvas', { id, width: String(size), height: String(size), class: 'demo-plot' });
}

const frame = () => new Promise((r) => requestAnimationFrame(() => r(null)));

export async function openDemo(pg: Playground, name: string): Promise<void> {
  const my = ++generation;
  const alive = () => my === generation;
  for (const w of workers) w.cancel();
  workers = [];
  const newRemote = (label: string) => {
    const r = new Remote(label);
    workers.push(r);
    return r;
  };
  const remote = newRemote(`demo ${name}`);
  const root = document.getElementById('demo')!;
  const lab = document.getElementById('lab')!;
  root.innerHTML = '';
  for (const k of Object.keys(demoState)) delete demoState[k];
  for (const k of Object.keys(demoHooks)) delete demoHooks[k];
  lab.hidden = name !== 'lab';
  root.hidden = name === 'lab';
  demoState.name = name;
  if (name === 'lab') return;
  const backend = pg.session.backend as 'webgpu' | 'cpu';
  const demos: Record<string, () => Promise<void>> = {
    pitfall: () => pitfall(root, backend, alive, remote),
    'sde-vs-ode': () => sdeVsOde(root, backend, alive, remote),
    'low-density': () => lowDensity(root, backend, alive, remote),
    manifold: () => manifold(root, backend, alive, remote),
    bakeoff: () => bakeoff(root, backend, alive, remote),
    images: () => images(root, backend, alive, remote, newRemote('bits/dim')),
  };
  const f = demos[name];
  if (!f) throw new Error(`unknown demo '${name}'; accepted: lab, ${Object.keys(demos).join(', ')}`);
  try {
    await f();
  } catch (e) {
    // a demo closed while it ran: its worker was terminated under it
    if (!alive() || e instanceof Cancelled) return;
    throw e;
  }
}

async function runBoth(sessions: Session[], draw: (i: number, p: Float32Array, info: StepInfo | null) => void, alive: () => boolean, k = 10): Promise<(StepInfo | null)[]> {
  const infos: (StepInfo | null)[] = sessions.map(() => null);
  let done = false;
  while (!done && alive()) {
    done = true;
    for (let i = 0; i < sessions.length; i++) {
      if (infos[i]?.done) continue;
      infos[i] = (await sessions[i].step(k)) as StepInfo | null;
      draw(i, (await sessions[i].particles()) as Float32Array, infos[i]);
      if (!infos[i]?.done) done = false;
    }
    await frame();
  }
  return infos;
}

/** The mixture-weight pitfall: plain Langevin with the exact score ignores π; annealed
 * Langevin recovers it (SCIENCE.md: the score of a mixture with far-apart modes hardly
 * depends on the weights in each mode's basin). */
async function pitfall(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'The mixture-weight pitfall: Langevin dynamics vs annealed Langevin'),
    el('p', {}, 'Two far-apart modes with weights π and 1 − π, both samplers fed the exact score. Plain Langevin mixes within each basin and never moves mass between them, so its mode ratio stays near the 50/50 it started with; annealed Langevin starts at a large noise level, where the modes overlap, and recovers π.'),
  );
  const slider = el('input', { type: 'range', min: '0.05', max: '0.95', step: '0.05', value: '0.8', id: 'pi' });
  const label = el('span', { id: 'piValue' }, 'π = 0.80');
  const go = el('button', { id: 'pitfallRun' }, 'sample both');
  const row = el('div', { class: 'demo-row' });
  const cA = canvas('pitfallA');
  const cB = canvas('pitfallB');
  const tA = el('div', { class: 'mono', id: 'pitfallTextA' });
  const tB = el('div', { class: 'mono', id: 'pitfallTextB' });
  const colA = el('div', {}, '');
  colA.append(el('b', {}, 'plain Langevin'), cA, tA);
  const colB = el('div', {}, '');
  colB.append(el('b', {}, 'annealed Langevin (NCSN)'), cB, tB);
  row.append(colA, colB);
  root.append(el('label', {}, 'mixture weight '), slider, label, go, row);
  const means = [[-5, -5], [5, 5]];
  const run = async () => {
    const pi = Number(slider.value);
    label.textContent = `π = ${pi.toFixed(2)}`;
    const base = { model: 'two-modes', weights: [pi, 1 - pi], n: 1000, seed: 1 };
    const a = (await remote.createSession(backend, { ...base, sampler: { kind: 'langevin' } })).session;
    const b = (await remote.createSession(backend, { ...base, sampler: { kind: 'ald' } })).session;
    const cs = [cA, cB];
    const ts = [tA, tB];
    const draw = (i: number, p: Float32Array, info: StepInfo | null) => {
      drawScene(cs[i], { particles: p, dim: 2, means, view: VIEW });
      ts[i].textContent = info ? `step ${info.index}${info.total ? ' / ' + info.total : ''}` : '';
    };
    await runBoth([a, b], draw, alive, 20);
    if (!alive()) return;
    const ra = await a.report(await a.particles(), 10);
    const rb = await b.report(await b.particles(), 10);
    tA.textContent = `mode weights ${ra.mode_weights.map((w: number) => w.toFixed(3)).join(' / ')} (π = ${pi.toFixed(2)})`;
    tB.textContent = `mode weights ${rb.mode_weights.map((w: number) => w.toFixed(3)).join(' / ')} (π = ${pi.toFixed(2)})`;
    demoState.pi = pi;
    demoState.langevin = ra;
    demoState.annealed = rb;
    demoState.done = true;
  };
  go.onclick = () => void run();
  slider.onchange = () => void run();
  await run();
}

/** Reverse SDE vs probability-flow ODE from the same noise: the same marginals, different paths. */
async function sdeVsOde(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Reverse SDE vs probability-flow ODE, from the same noise'),
    el('p', {}, 'Both start from the same prior samples (same seed). The reverse-time SDE (Euler–Maruyama) adds fresh noise every step: its paths are rough and a starting point can end in any mode. The probability-flow ODE is deterministic: smooth paths, the same end point for the same start, and the same distribution at every t.'),
  );
  const row = el('div', { class: 'demo-row' });
  const cA = canvas('sdeA');
  const cB = canvas('odeB');
  const tA = el('div', { class: 'mono', id: 'sdeText' });
  const tB = el('div', { class: 'mono', id: 'odeText' });
  const colA = el('div');
  colA.append(el('b', {}, 'reverse SDE (Euler–Maruyama)'), cA, tA);
  const colB = el('div');
  colB.append(el('b', {}, 'probability-flow ODE (RK4)'), cB, tB);
  row.append(colA, colB);
  root.append(row);
  const base = { model: 'ring8', sde: { kind: 'vp' }, n: 400, seed: 3 };
  const a = (await remote.createSession(backend, { ...base, sampler: { kind: 'em', steps: 200 } })).session;
  const b = (await remote.createSession(backend, { ...base, sampler: { kind: 'ode', solver: 'rk4', steps: 100 } })).session;
  const trails: Float32Array[][] = [[(await a.particles()) as Float32Array], [(await b.particles()) as Float32Array]];
  const cs = [cA, cB];
  const ts = [tA, tB];
  const infos = await runBoth(
    [a, b],
    (i, p, info) => {
      trails[i].push(p);
      drawScene(cs[i], { particles: p, dim: 2, means: [], view: VIEW, trails: trails[i] });
      ts[i].textContent = info ? `step ${info.index}   t = ${info.t.toFixed(3)}   NFE ${info.nfe}` : '';
    },
    alive,
    5,
  );
  if (!alive()) return;
  const ra = await a.report(await a.particles(), 10);
  const rb = await b.report(await b.particles(), 10);
  tA.textContent += `   sliced W2 ${ra.sw.toFixed(3)}`;
  tB.textContent += `   sliced W2 ${rb.sw.toFixed(3)}`;
  demoState.sde = { nfe: infos[0]?.nfe, sw: ra.sw, sw_q99: ra.sw_q99 };
  demoState.ode = { nfe: infos[1]?.nfe, sw: rb.sw, sw_q99: rb.sw_q99 };
  demoState.done = true;
}

/** Train a small network in the page; resolves to the model's bytes. */
async function trainNet(remote: Remote, backend: 'webgpu' | 'cpu', spec: Record<string, unknown>, steps: number, onChunk: (t: Training, r: { loss: number; step: number }) => Promise<void> | void, alive: () => boolean): Promise<Training | null> {
  const t = await remote.createTraining(backend, spec);
  while (alive()) {
    const r = (await t.train(50)) as { loss: number; step: number };
    await onChunk(t, r);
    if (r.step >= steps) return t;
    await frame();
  }
  return null;
}

/** The low-density pitfall: the learned score is accurate where the data are and wrong in
 * between (denoising score matching never sees those regions at small t). */
async function lowDensity(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Where the data are not, the score is not learned'),
    el('p', {}, 'A network trained on the two-mode mixture (in this page, now). Heat: the error ‖s_θ − ∇log p_t‖ at small t; black arrows: the learned score, red: the exact one. The error is small on the modes and large in the empty space between and around them: Langevin started there follows a wrong field. Noise (larger t) spreads the data over that space, which is why annealing helps.'),
  );
  const c = canvas('lowDensityPlot', 480);
  const text = el('div', { class: 'mono', id: 'lowDensityText' }, 'training…');
  root.append(c, text);
  const session = (await remote.createSession(backend, { model: 'two-modes', sde: { kind: 'vp' } })).session;
  const t = await trainNet(remote, backend, { data: 'two-modes', sde: { kind: 'vp' }, train: { batch: 256, lr: 0.002, warmup: 50, seed: 0 } }, 800, (_, r) => { text.textContent = `training: step ${r.step}, loss ${r.loss.toFixed(3)}`; }, alive);
  if (!t || !alive()) return;
  await session.loadWeights('two-modes-page', await t.export());
  const data = (await remote.createSession(backend, { model: 'two-modes', sampler: { kind: 'ode', solver: 'rk4', steps: 50 }, n: 500 })).session;
  await data.run();
  const particles = (await data.particles()) as Float32Array;
  const tSmall = 0.01;
  const fine = gridPoints(VIEW, 40);
  const f = (await session.scoreField(fine.points, tSmall)) as { model: number[]; exact: number[] };
  const err = new Float32Array(fine.g * fine.g);
  for (let i = 0; i < err.length; i++) err[i] = Math.hypot(f.model[2 * i] - f.exact[2 * i], f.model[2 * i + 1] - f.exact[2 * i + 1]);
  const coarse = gridPoints(VIEW, 20);
  const g = (await session.scoreField(coarse.points, tSmall)) as { model: number[]; exact: number[] };
  const scene: Scene = {
    particles,
    dim: 2,
    means: [],
    view: VIEW,
    heat: { grid: fine, values: err.map((v) => Math.log1p(v)), palette: 'error' },
    arrows: [
      { grid: coarse, vectors: Float32Array.from(g.model), color: 'rgba(20,20,40,0.85)' },
      { grid: coarse, vectors: Float32Array.from(g.exact), color: 'rgba(210,40,40,0.7)' },
    ],
  };
  drawScene(c, scene);
  // error near the modes vs far from them
  const near: number[] = [];
  const far: number[] = [];
  for (let i = 0; i < err.length; i++) {
    const x = fine.points[2 * i];
    const y = fine.points[2 * i + 1];
    const d = Math.min(Math.hypot(x + 5, y + 5), Math.hypot(x - 5, y - 5));
    (d < 1.5 ? near : d > 4 ? far : []).push(err[i]);
  }
  const med = (v: number[]) => v.slice().sort((a, b) => a - b)[Math.floor(v.length / 2)];
  demoState.nearError = med(near);
  demoState.farError = med(far);
  text.textContent = `median score error at t = ${tSmall}: near the modes ${med(near).toFixed(2)}, far from them ${med(far).toFixed(2)}`;
  demoState.done = true;
}

/** Data on a manifold: on an exact circle the data score does not exist (p has no density in
 * 2-D); with a little noise it does. The network learns a huge field pointing at the circle. */
async function manifold(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Data on a manifold: a circle, with and without noise'),
    el('p', {}, 'Left: 2,000 points exactly on a circle of radius 5; right: the same with Gaussian noise of std 0.3. The score of the exact circle is undefined off the circle and infinite across it, so at small t the learned field is huge and ill-conditioned; noise makes the data a density and the score finite. Arrows: the learned score at t = 0.01; dots: samples from each network.'),
  );
  const row = el('div', { class: 'demo-row' });
  const cA = canvas('manifoldA');
  const cB = canvas('manifoldB');
  const tA = el('div', { class: 'mono', id: 'manifoldTextA' }, 'training…');
  const tB = el('div', { class: 'mono', id: 'manifoldTextB' }, 'training…');
  const colA = el('div');
  colA.append(el('b', {}, 'on the circle (no noise)'), cA, tA);
  const colB = el('div');
  colB.append(el('b', {}, 'noisy circle (std 0.3)'), cB, tB);
  row.append(colA, colB);
  root.append(row);
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  const circle = (noise: number) => {
    const p: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const a = 2 * Math.PI * rand();
      p.push(5 * Math.cos(a) + noise * gauss(), 5 * Math.sin(a) + noise * gauss());
    }
    return p;
  };
  const cs = [cA, cB];
  const ts = [tA, tB];
  const magnitudes: number[] = [];
  for (const [i, noise] of [0, 0.3].entries()) {
    const t = await trainNet(remote, backend, { data: noise ? 'noisy-circle' : 'circle', points: circle(noise), sde: { kind: 've' }, train: { batch: 256, lr: 0.002, warmup: 50, seed: 0 } }, 600, (_, r) => { ts[i].textContent = `training: step ${r.step}, loss ${r.loss.toFixed(3)}`; }, alive);
    if (!t || !alive()) return;
    const s = (await remote.createSession(backend, {})).session;
    await s.loadWeights(noise ? 'noisy-circle' : 'circle', await t.export());
    await s.setState({ ...s.state(), sampler: { kind: 'pc', steps: 300 }, n: 600, seed: 2 });
    await s.run();
    const p = (await s.particles()) as Float32Array;
    const grid = gridPoints(VIEW, 20);
    const f = (await s.scoreField(grid.points, 0.01)) as { model: number[] };
    let mag = 0;
    for (let k = 0; k < f.model.length; k += 2) mag += Math.hypot(f.model[k], f.model[k + 1]);
    mag /= f.model.length / 2;
    magnitudes.push(mag);
    drawScene(cs[i], { particles: p, dim: 2, means: [], view: VIEW, arrows: [{ grid, vectors: Float32Array.from(f.model), color: 'rgba(20,20,40,0.8)' }] });
    let radius = 0;
    for (let k = 0; k < p.length; k += 2) radius += Math.hypot(p[k], p[k + 1]);
    ts[i].textContent = `mean |score| at t = 0.01: ${mag.toFixed(1)}   mean sample radius ${(radius / (p.length / 2)).toFixed(2)}`;
  }
  demoState.magnitudes = magnitudes;
  demoState.done = true;
}

/** Objective bake-off: denoising, sliced and implicit score matching on the same mixture,
 * each model's exact (λ-weighted) Fisher divergence plotted as training runs. */
async function bakeoff(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Objective bake-off: DSM vs sliced vs implicit score matching'),
    el('p', {}, 'Three identical networks trained on samples of the ring of eight Gaussians (VP SDE), one per objective, same seed and batch. The curve is each model\'s Fisher divergence E_t λ(t) E‖s_θ − ∇log p_t‖² against the closed-form score (train::fisher, the same function the tests use), every 50 steps.'),
  );
  const steps = el('input', { type: 'number', value: '400', min: '50', max: '5000', step: '50', id: 'bakeoffSteps' });
  const go = el('button', { id: 'bakeoffRun' }, 'train');
  const c = el('canvas', { id: 'bakeoffPlot', width: '640', height: '300' });
  const text = el('div', { class: 'mono', id: 'bakeoffText' });
  root.append(el('label', {}, 'steps '), steps, go, c, text);
  const run = async () => {
    const n = Number(steps.value);
    if (!Number.isInteger(n) || n < 50 || n > 5000) throw new Error(`bake-off steps: ${steps.value}; accepted: an integer in [50, 5000]`);
    const objectives = ['dsm', 'ssm', 'ism'];
    const colors = ['#2050c0', '#c05020', '#209050'];
    const trainers = await Promise.all(objectives.map((o) => remote.createTraining(backend, { data: 'ring8', sde: { kind: 'vp' }, train: { batch: 256, lr: 0.002, warmup: 50, seed: 0, objective: o } })));
    const series = objectives.map((o, i) => ({ name: o, color: colors[i], xs: [0], ys: [0] }));
    for (let i = 0; i < 3; i++) series[i].ys[0] = (await trainers[i].fisher(300)) as number;
    for (let step = 50; step <= n && alive(); step += 50) {
      for (let i = 0; i < 3; i++) {
        const r = (await trainers[i].train(50)) as { loss: number; steps_per_second: number };
        series[i].xs.push(step);
        series[i].ys.push((await trainers[i].fisher(300)) as number);
        void r;
      }
      drawLines(c, series, 'Fisher divergence to the exact score (log scale)');
      text.textContent = series.map((s) => `${s.name} ${s.ys[s.ys.length - 1].toFixed(4)}`).join('   ') + `   (step ${step})`;
      demoState.curves = series.map((s) => ({ name: s.name, xs: s.xs, ys: s.ys }));
      await frame();
    }
    demoState.done = alive();
  };
  go.onclick = () => void run().catch((e) => (text.textContent = (e as Error).message));
  await run();
}

/** The image lab: the shipped MNIST U-Net samples a grid, every denoising step drawn. */
async function images(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote, judgeRemote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Image lab: the notebook U-Net on MNIST'),
    el('p', {}, 'The shipped model (models/mnist-unet-ve.safetensors, VE σ = 25) samples 16 digits; every step is drawn, from noise to digits. Draw a digit in the pad (ink = 1, as in MNIST) and ask for its bits/dim: the probability-flow ODE likelihood with one Hutchinson probe, after 8-bit quantisation and uniform dequantisation, as `scorelab likelihood --bpd`, of p_ε at the model’s smallest training time ε = 1e-7 (1.75-1.80 bits/dim on average over the 1,000 held-out MNIST digits with this model, none above 4; pure noise scores far worse). The model’s denoiser x + σ²s is kept in the pixel range [0, 1], as in `scorelab`.'),
  );
  const sampler = el('select', { id: 'imgSampler' });
  for (const s of ['pc', 'em', 'ode']) sampler.add(new Option(s, s));
  const steps = el('input', { type: 'number', value: '100', min: '10', max: '2000', id: 'imgSteps' });
  const go = el('button', { id: 'imgRun' }, 'sample');
  const c = canvas('imgGrid', 448);
  const text = el('div', { class: 'mono', id: 'imgText' }, 'loading the model…');
  root.append(el('label', {}, 'sampler '), sampler, el('label', {}, ' steps '), steps, go, c, text);
  const pad = el('canvas', { id: 'digitPad', width: '224', height: '224', class: 'demo-plot' });
  const bpdBtn = el('button', { id: 'bpdBtn' }, 'bits/dim of my digit');
  const bpdCancel = el('button', { id: 'bpdCancel', title: 'stop the likelihood computation (it runs in its own worker)' }, 'cancel');
  const brush = el('select', { id: 'padBrush' });
  brush.add(new Option('brush: ink', 'ink'));
  brush.add(new Option('brush: region to inpaint', 'mask'));
  const inpaintBtn = el('button', { id: 'inpaintBtn' }, 'inpaint the region (16 samples)');
  const clearPad = el('button', { id: 'clearPad' }, 'clear');
  const bpdText = el('div', { class: 'mono', id: 'bpdText' }, 'draw a digit in the pad');
  const padRow = el('div', { class: 'demo-row' });
  const padCol = el('div');
  padCol.append(pad, brush, clearPad, bpdBtn, bpdCancel, inpaintBtn, bpdText);
  padRow.append(padCol);
  root.append(padRow);
  const res = await fetch('models/mnist-unet-ve.safetensors');
  if (!res.ok) throw new Error(`models/mnist-unet-ve.safetensors: ${res.status} ${res.statusText}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const session = (await remote.createSession(backend, {})).session;
  await session.loadWeights('mnist', bytes);
  // likelihoods in a second worker: they run beside the sampler and can be cancelled alone
  let judge: Session | null = null;
  const judgeSession = async () => {
    if (!judge?.alive) {
      judge = (await judgeRemote.createSession(backend, {})).session;
      await judge.loadWeights('mnist', bytes);
    }
    return judge;
  };
  const padPixels = new Float32Array(784);
  /** 1 where the pad's pixels are to be inpainted. */
  const padMask = new Float32Array(784);
  const drawPad = () => {
    drawDigits(pad, padPixels, 1);
    const ctx = pad.getContext('2d')!;
    ctx.fillStyle = 'rgba(220, 40, 40, 0.35)';
    const cell = pad.width / 28;
    for (let p = 0; p < 784; p++) if (padMask[p]) ctx.fillRect((p % 28) * cell, Math.floor(p / 28) * cell, cell, cell);
  };
  drawPad();
  let down = false;
  const ink = (e: PointerEvent) => {
    const r = pad.getBoundingClientRect();
    const cx = ((e.clientX - r.left) / r.width) * 28;
    const cy = ((e.clientY - r.top) / r.height) * 28;
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const d = Math.hypot(x + 0.5 - cx, y + 0.5 - cy);
        if (brush.value === 'mask') {
          if (d < 2.5) padMask[y * 28 + x] = 1;
        } else {
          const v = Math.max(0, Math.min(1, 1.6 - d));
          padPixels[y * 28 + x] = Math.max(padPixels[y * 28 + x], v);
        }
      }
    }
    drawPad();
  };
  pad.addEventListener('pointerdown', (e) => { down = true; ink(e); });
  pad.addEventListener('pointermove', (e) => { if (down) ink(e); });
  window.addEventListener('pointerup', () => { down = false; });
  clearPad.onclick = () => { padPixels.fill(0); padMask.fill(0); drawPad(); bpdText.textContent = 'draw a digit in the pad'; };
  const bitsPerDim = async (pixels: Float32Array) => {
    const t0 = performance.now();
    const r = await (await judgeSession()).bitsPerDim(pixels);
    demoState.bpd = r.bpd;
    demoState.bpdNfe = r.nfe;
    return { ...r, seconds: (performance.now() - t0) / 1000 };
  };
  bpdCancel.onclick = () => judgeRemote.cancel();
  bpdBtn.onclick = () => {
    bpdText.textContent = 'computing (probability-flow ODE)…';
    bitsPerDim(padPixels.slice()).then(
      (r) => (bpdText.textContent = `${r.bpd[0].toFixed(2)} bits/dim   (NFE ${r.nfe}, ${r.seconds.toFixed(1)} s)`),
      (e) => (bpdText.textContent = (e as Error).message),
    );
  };
  demoHooks.setPad = (values: number[]) => {
    if (values.length !== 784) throw new Error(`setPad: need 784 values, got ${values.length}`);
    padPixels.set(values);
    drawPad();
  };
  demoHooks.setMask = (values: number[]) => {
    if (values.length !== 784) throw new Error(`setMask: need 784 values, got ${values.length}`);
    padMask.set(values.map((v) => (v ? 1 : 0)));
    drawPad();
  };
  /** Inpaint the masked region of the pad: 16 samples, every step drawn. */
  const inpaint = async (n: number) => {
    if (!padMask.some((v) => v === 1)) throw new Error('inpaint: paint the region to fill first (brush: region to inpaint)');
    if (!Number.isInteger(n) || n < 10 || n > 2000) throw new Error(`steps: ${n}; accepted: an integer in [10, 2000]`);
    stopSampling = true;
    await sampling;
    stopSampling = false;
    await session.setState({ ...session.state(), sampler: { kind: 'pc', steps: n }, n: 16, seed: 1, denoise: true });
    await session.inpaint(padPixels, padMask.map((v) => 1 - v));
    let info: StepInfo | null = null;
    while (alive() && !info?.done) {
      info = (await session.step(1)) as StepInfo | null;
      drawDigits(c, (await session.particles()) as Float32Array, 16);
      text.textContent = `inpainting: step ${info?.index} / ${info?.total}   t = ${info?.t.toFixed(4)}`;
      await frame();
    }
    const p = Array.from((await session.particles()) as Float32Array);
    demoState.inpainted = p;
    return p;
  };
  demoHooks.inpaint = (n = 100) => inpaint(n);
  inpaintBtn.onclick = () => void inpaint(Number(steps.value)).catch((e) => (bpdText.textContent = (e as Error).message));
  demoHooks.bitsPerDim = (values: number[]) => bitsPerDim(Float32Array.from(values));
  let stopSampling = false;
  let sampling: Promise<void> = Promise.resolve();
  const run = async () => {
    const n = Number(steps.value);
    if (!Number.isInteger(n) || n < 10 || n > 2000) throw new Error(`steps: ${steps.value}; accepted: an integer in [10, 2000]`);
    const kind = sampler.value;
    const spec: Record<string, unknown> = kind === 'ode' ? { kind: 'ode', solver: 'rk4', steps: n } : kind === 'pc' ? { kind: 'pc', steps: n } : { kind: 'em', steps: n };
    await session.setState({ ...session.state(), sampler: spec, n: 16, seed: 0, denoise: kind !== 'ode' });
    let info: StepInfo | null = null;
    const t0 = performance.now();
    while (alive() && !stopSampling && !info?.done) {
      info = (await session.step(1)) as StepInfo | null;
      const p = (await session.particles()) as Float32Array;
      drawDigits(c, p, 16);
      text.textContent = `step ${info?.index}${info?.total ? ' / ' + info.total : ''}   t = ${info?.t.toFixed(4)}   NFE ${info?.nfe}   ${((performance.now() - t0) / 1000).toFixed(1)} s`;
      demoState.step = info?.index;
      await frame();
    }
    const p = (await session.particles()) as Float32Array;
    let ink = 0;
    for (const v of p) ink += Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : NaN;
    demoState.meanPixel = ink / p.length;
    demoState.done = alive();
  };
  go.onclick = () => void (sampling = run().catch((e) => void (text.textContent = (e as Error).message)));
  sampling = run();
  await sampling;
}
