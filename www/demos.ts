// The lectures' demos, each one click (or one link: #demo=NAME) away. Each builds its own
// panel in #demo with its own sessions in its own web worker (a `Remote`); opening another
// demo terminates that worker, which cancels whatever the running one computes.
import { Cancelled, Remote, measureBackends, measureText, probeWebGpu, stepText, type Session, type StepInfo, type Training } from './wasm';
import { drawScene, drawLines, drawDigits, gridPoints, TrailLayer, type Scene } from './plot';
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
  return el('canvas', { id, width: String(size), height: String(size), class: 'demo-plot fit' });
}

/** A plot with its title above and its text below; the text wraps at the plot's width, so a
 * long line never widens the column and pushes plots onto another row. */
function column(title: string, plot: HTMLCanvasElement, text: HTMLElement): HTMLDivElement {
  const col = el('div', { style: `max-width: ${plot.width}px` });
  col.append(el('b', {}, title), plot, text);
  return col;
}

const frame = () => new Promise((r) => requestAnimationFrame(() => r(null)));

/** What a demo shows in the page's header (instead of the lab's model). */
const TITLES: Record<string, string> = {
  pitfall: 'demo: the mixture-weight pitfall (two-modes, exact score)',
  'sde-vs-ode': 'demo: reverse SDE vs probability-flow ODE (ring8, VP)',
  'low-density': 'demo: the score is not learned where the data are not (two-modes, VP)',
  manifold: 'demo: data on a manifold (a circle, VE)',
  bakeoff: 'demo: objective bake-off (ring8, VP)',
  images: 'demo: image lab (MNIST U-Net, VE σ = 25)',
};

/** A weight file handed to the image lab (a dropped or chosen image model). */
export interface ImageModel {
  name: string;
  bytes: Uint8Array;
}

type Job<T> = (current: () => boolean) => Promise<T>;

/**
 * One run at a time for a demo's buttons, slider and keys: `start(job)` supersedes the job
 * in flight (it stops at its next `current()` check), waits for it to end, then runs; jobs
 * that were superseded while they waited never start. Resolves to the job's value, or
 * undefined when it was superseded or failed: errors go to `onError` (a cancelled worker's
 * are expected and dropped), never to the console as uncaught rejections.
 * `demoState.inFlight` / `maxInFlight` / `runs` count jobs, for the tests.
 */
function latest(alive: () => boolean, onError: (e: Error) => void): <T>(job: Job<T>) => Promise<T | undefined> {
  let gen = 0;
  let tail: Promise<unknown> = Promise.resolve();
  demoState.inFlight = 0;
  demoState.maxInFlight = 0;
  demoState.runs = 0;
  return <T>(job: Job<T>) => {
    const my = ++gen;
    const current = () => my === gen && alive();
    const next = tail.then(async (): Promise<T | undefined> => {
      if (!current()) return undefined; // superseded before it started
      demoState.inFlight = (demoState.inFlight as number) + 1;
      demoState.maxInFlight = Math.max(demoState.maxInFlight as number, demoState.inFlight as number);
      demoState.runs = (demoState.runs as number) + 1;
      try {
        return await job(current);
      } catch (e) {
        if (alive() && !(e instanceof Cancelled)) onError(e as Error);
        return undefined;
      } finally {
        demoState.inFlight = (demoState.inFlight as number) - 1;
      }
    });
    tail = next;
    return next;
  };
}

export async function openDemo(pg: Playground, name: string, imageModel?: ImageModel): Promise<void> {
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
  document.getElementById('about')!.textContent = TITLES[name] ?? '';
  const backend = pg.session.backend as 'webgpu' | 'cpu';
  const demos: Record<string, () => Promise<void>> = {
    pitfall: () => pitfall(root, backend, alive, remote),
    'sde-vs-ode': () => sdeVsOde(root, backend, alive, remote),
    'low-density': () => lowDensity(root, backend, alive, remote),
    manifold: () => manifold(root, backend, alive, remote),
    bakeoff: () => bakeoff(root, backend, alive, remote),
    images: () => images(root, backend, alive, remote, newRemote('bits/dim'), imageModel, pg.hash.backend === 'auto'),
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
  const colA = column('plain Langevin', cA, tA);
  const colB = column('annealed Langevin (NCSN)', cB, tB);
  row.append(colA, colB);
  root.append(el('label', {}, 'mixture weight '), slider, label, go, row);
  const means = [[-5, -5], [5, 5]];
  // the two sessions live as long as the demo: each run only changes their settings, so
  // slider moves reuse the worker's memory instead of piling up sessions
  const a = (await remote.createSession(backend, { model: 'two-modes', sampler: { kind: 'langevin' }, n: 1000, seed: 1 })).session;
  const b = (await remote.createSession(backend, { model: 'two-modes', sampler: { kind: 'ald' }, n: 1000, seed: 1 })).session;
  const cs = [cA, cB];
  const ts = [tA, tB];
  const start = latest(alive, (e) => (tA.textContent = e.message));
  const run = () => start(async (current) => {
    const pi = Number(slider.value);
    label.textContent = `π = ${pi.toFixed(2)}`;
    delete demoState.done;
    const base = { model: 'two-modes', weights: [pi, 1 - pi], n: 1000, seed: 1 };
    await a.setState({ ...base, sampler: { kind: 'langevin' } });
    await b.setState({ ...base, sampler: { kind: 'ald' } });
    const draw = (i: number, p: Float32Array, info: StepInfo | null) => {
      drawScene(cs[i], { particles: p, dim: 2, means, view: VIEW });
      ts[i].textContent = info ? `step ${info.index}${info.total ? ' / ' + info.total : ''}` : '';
    };
    await runBoth([a, b], draw, current, 20);
    if (!current()) return;
    const ra = await a.report(await a.particles(), 10);
    const rb = await b.report(await b.particles(), 10);
    tA.textContent = `mode weights ${ra.mode_weights.map((w: number) => w.toFixed(3)).join(' / ')} (π = ${pi.toFixed(2)})`;
    tB.textContent = `mode weights ${rb.mode_weights.map((w: number) => w.toFixed(3)).join(' / ')} (π = ${pi.toFixed(2)})`;
    demoState.pi = pi;
    demoState.langevin = ra;
    demoState.annealed = rb;
    demoState.done = true;
  });
  go.onclick = () => void run();
  // every arrow key or drag on the slider supersedes the run in flight
  slider.onchange = () => void run();
  slider.oninput = () => (label.textContent = `π = ${Number(slider.value).toFixed(2)}`);
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
  const colA = column('reverse SDE (Euler–Maruyama)', cA, tA);
  const colB = column('probability-flow ODE (RK4)', cB, tB);
  row.append(colA, colB);
  root.append(row);
  const base = { model: 'ring8', sde: { kind: 'vp' }, n: 400, seed: 3 };
  const a = (await remote.createSession(backend, { ...base, sampler: { kind: 'em', steps: 200 } })).session;
  const b = (await remote.createSession(backend, { ...base, sampler: { kind: 'ode', solver: 'rk4', steps: 100 } })).session;
  const trails: Float32Array[][] = [[(await a.particles()) as Float32Array], [(await b.particles()) as Float32Array]];
  // the same particles followed in both panels (same seed, same starting noise)
  const layers = [new TrailLayer(60), new TrailLayer(60)];
  const cs = [cA, cB];
  const ts = [tA, tB];
  const infos = await runBoth(
    [a, b],
    (i, p, info) => {
      trails[i].push(p);
      layers[i].update(trails[i], trails[i].length - 1, VIEW, cs[i].width, cs[i].height);
      drawScene(cs[i], { particles: p, dim: 2, means: [], view: VIEW, trails: layers[i] });
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
 * 2-D); with a little noise it does. Under VE the smoothed circle's score across the circle
 * is about −d/σ(t)² (d: signed distance to the circle), so near the circle its magnitude grows
 * like 1/σ(t) without bound as t → 0; with data noise of std 0.3 it is about
 * −d/(0.3² + σ(t)²), finite at every t. The demo measures the trained networks' |s_θ| against
 * d at three times and draws both fields on one colour scale. */
async function manifold(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Data on a manifold: a circle, with and without noise'),
    el('p', {}, 'Left: 2,000 points exactly on a circle of radius 5; middle: the same with Gaussian noise of std 0.3; one network trained on each (VE SDE, 2,000 steps). Colour: log₁₀ |s_θ(x, t)| at t = 0.01, one scale for both panels; arrows: its direction. Right: |s| against the distance d = r − 5 to the circle, learned (solid) and exact (dashed: the circle, with its noise, smoothed by N(0, σ(t)²)). Without noise the score across the circle is about d/σ(t)², so near the circle it grows like 1/σ(t) as t → 0: it blows up, and the data have no score at t = 0. With noise it is about d/(0.3² + σ(t)²) and stays finite. At small t the networks are least accurate: s_θ = output/σ(t), so an output error is multiplied by 1/σ(t) ≈ 90.'),
  );
  const row = el('div', { class: 'demo-row' });
  const cA = canvas('manifoldA', 300);
  const cB = canvas('manifoldB', 300);
  const chart = el('canvas', { id: 'manifoldChart', width: '360', height: '300', class: 'demo-plot fit' });
  const tA = el('div', { class: 'mono', id: 'manifoldTextA' }, 'training…');
  const tB = el('div', { class: 'mono', id: 'manifoldTextB' }, 'training…');
  const tC = el('div', { class: 'mono', id: 'manifoldTextC' }, '');
  const colA = column('on the circle (no noise)', cA, tA);
  const colB = column('noisy circle (std 0.3)', cB, tB);
  const colC = column('|s| against distance to the circle', chart, tC);
  // the chart's key (in the page, where it cannot hide a curve)
  const key = el('div', { class: 'mono' });
  key.innerHTML = '<span style="color:#c03020">■ no noise</span>  <span style="color:#2050c0">■ noisy</span>  thick: t = 0.01, thin: t = 0.3; solid: learned, dashed: exact';
  colC.insertBefore(key, tC);
  row.append(colA, colB, colC);
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
  // points at signed distance d from the circle along ANGLES rays, d in [−1, 1]
  const ANGLES = 16;
  const ds: number[] = [];
  for (let k = -100; k <= 100; k++) ds.push(k / 100);
  const rays = new Float32Array(ds.length * ANGLES * 2);
  ds.forEach((d, k) => {
    for (let a = 0; a < ANGLES; a++) {
      const ang = (2 * Math.PI * (a + 0.5)) / ANGLES;
      rays[(k * ANGLES + a) * 2] = (5 + d) * Math.cos(ang);
      rays[(k * ANGLES + a) * 2 + 1] = (5 + d) * Math.sin(ang);
    }
  });
  const TIMES = [0.3, 0.1, 0.01];
  // the circle as 4,000 evenly spaced points: spaced 0.008, below every σ(t) ≥ 0.01 used,
  // so their smoothed density is the smoothed circle's (the ripple is ~e^(-2π²σ²/h²) ≈ e^-30)
  const ring: number[] = [];
  for (let i = 0; i < 4000; i++) ring.push(5 * Math.cos((2 * Math.PI * i) / 4000), 5 * Math.sin((2 * Math.PI * i) / 4000));
  const ray = new Float32Array(ds.length * 2);
  ds.forEach((d, k) => { ray[2 * k] = (5 + d) * Math.cos(0.3); ray[2 * k + 1] = (5 + d) * Math.sin(0.3); });
  /** VE σ(t) with the defaults (σ_min 0.01, σ_max 50), as the networks are trained. */
  const sigma = (t: number) => 0.01 * (50 / 0.01) ** t;
  /** The score of points `data` smoothed by N(0, s2) at points `pts` (n·2 values each). */
  const smoothedScore = (data: number[], pts: Float32Array, s2: number) => {
    const out: number[] = [];
    for (let k = 0; k < pts.length; k += 2) {
      const x = pts[k];
      const y = pts[k + 1];
      let best = -Infinity;
      const logs = new Float64Array(data.length / 2);
      for (let i = 0; i < data.length; i += 2) {
        const l = -((x - data[i]) ** 2 + (y - data[i + 1]) ** 2) / (2 * s2);
        logs[i / 2] = l;
        if (l > best) best = l;
      }
      let w = 0;
      let mx = 0;
      let my = 0;
      for (let i = 0; i < data.length; i += 2) {
        const e = Math.exp(logs[i / 2] - best);
        w += e;
        mx += e * data[i];
        my += e * data[i + 1];
      }
      out.push((mx / w - x) / s2, (my / w - y) / s2);
    }
    return out;
  };
  const meanNorm = (v: number[], from: number, count: number) => {
    let m = 0;
    for (let a = 0; a < count; a++) m += Math.hypot(v[(from + a) * 2], v[(from + a) * 2 + 1]);
    return m / count;
  };
  const grid = gridPoints(VIEW, 20);
  const fine = gridPoints(VIEW, 48);
  const fields: { p: Float32Array; arrows: number[]; heat: Float32Array }[] = [];
  const profiles: { noise: number; t: number; ys: number[]; exact: number[] }[] = [];
  const STEPS = 2000;
  const cs = [cA, cB];
  const ts = [tA, tB];
  for (const [i, noise] of [0, 0.3].entries()) {
    const points = circle(noise);
    const t = await trainNet(remote, backend, { data: noise ? 'noisy-circle' : 'circle', points, sde: { kind: 've' }, train: { batch: 256, lr: 0.002, warmup: 50, seed: 0 } }, STEPS, (_, r) => { ts[i].textContent = `training: step ${r.step}, loss ${r.loss.toFixed(3)}`; }, alive);
    if (!t || !alive()) return;
    const s = (await remote.createSession(backend, {})).session;
    await s.loadWeights(noise ? 'noisy-circle' : 'circle', await t.export());
    t.free();
    await s.setState({ ...s.state(), sampler: { kind: 'pc', steps: 300 }, n: 600, seed: 2 });
    await s.run();
    const p = (await s.particles()) as Float32Array;
    const f = (await s.scoreField(grid.points, 0.01)) as { model: number[] };
    const h = (await s.scoreField(fine.points, 0.01)) as { model: number[] };
    const heat = new Float32Array(fine.g * fine.g);
    for (let k = 0; k < heat.length; k++) heat[k] = Math.log10(Math.hypot(h.model[2 * k], h.model[2 * k + 1]) + 1e-6);
    fields.push({ p, arrows: f.model, heat });
    for (const tt of TIMES) {
      const r = (await s.scoreField(rays, tt)) as { model: number[] };
      // the population's score (the exact circle, or the circle with its noise, smoothed
      // by the SDE): symmetric, so one ray gives the profile
      const exact = smoothedScore(ring, ray, noise ** 2 + sigma(tt) ** 2);
      profiles.push({ noise, t: tt, ys: ds.map((_, k) => meanNorm(r.model, k * ANGLES, ANGLES)), exact: ds.map((_, k) => meanNorm(exact, k, 1)) });
    }
    s.free();
    let radius = 0;
    for (let k = 0; k < p.length; k += 2) radius += Math.hypot(p[k], p[k + 1]);
    const near = profiles.filter((q) => q.noise === noise && q.t === 0.01)[0];
    const peak = Math.max(...near.ys.filter((_, k) => Math.abs(ds[k]) <= 0.25));
    ts[i].textContent = `max |s_θ| within 0.25 of the circle at t = 0.01: ${peak.toFixed(1)}   mean sample radius ${(radius / (p.length / 2)).toFixed(2)}`;
  }
  // both panels on one colour scale, so the magnitudes compare
  let lo = Infinity;
  let hi = -Infinity;
  for (const f of fields) for (const v of f.heat) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  fields.forEach((f, i) => drawScene(cs[i], { particles: f.p, dim: 2, means: [], view: VIEW, heat: { grid: fine, values: f.heat, palette: 'error', range: [lo, hi] }, arrows: [{ grid, vectors: Float32Array.from(f.arrows), color: 'rgba(20,20,40,0.8)' }] }));
  const colors: Record<string, string> = { '0': '#c03020', '0.3': '#2050c0' };
  const shown = profiles.filter((q) => q.t !== 0.1);
  drawLines(chart, [
    ...shown.map((q) => ({ name: '', color: colors[String(q.noise)], width: q.t === 0.01 ? 2 : 1, xs: ds, ys: q.ys })),
    ...shown.map((q) => ({ name: '', color: colors[String(q.noise)], width: q.t === 0.01 ? 1.5 : 0.8, dash: [4, 3], xs: ds, ys: q.exact })),
  ], '|s| (log scale) against d = r − 5');
  // the figures the text states: the peak near the circle at each t, networks and exact
  const near = (v: number[]) => Math.max(...v.filter((_, k) => Math.abs(ds[k]) <= 0.25));
  const peaks = profiles.map((q) => ({ noise: q.noise, t: q.t, peak: near(q.ys), exact: near(q.exact) }));
  demoState.peaks = peaks;
  demoState.magnitudes = [0, 0.3].map((n) => peaks.find((q) => q.noise === n && q.t === 0.01)!.peak);
  const list = (n: number, key: 'peak' | 'exact') => peaks.filter((q) => q.noise === n).map((q) => q[key].toFixed(q[key] < 10 ? 1 : 0)).join(' / ');
  tC.textContent = `max |s| for |d| ≤ 0.25 at t = ${TIMES.join(' / ')}: no noise ${list(0, 'peak')} (exact ${list(0, 'exact')}); noisy ${list(0.3, 'peak')} (exact ${list(0.3, 'exact')})`;
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
  const c = el('canvas', { id: 'bakeoffPlot', width: '640', height: '300', class: 'demo-plot fit' });
  const text = el('div', { class: 'mono', id: 'bakeoffText' });
  root.append(el('label', {}, 'steps '), steps, go, c, text);
  const start = latest(alive, (e) => (text.textContent = e.message));
  const run = () => start(async (current) => {
    const n = Number(steps.value);
    if (!Number.isInteger(n) || n < 50 || n > 5000) throw new Error(`bake-off steps: ${steps.value}; accepted: an integer in [50, 5000]`);
    delete demoState.done;
    const objectives = ['dsm', 'ssm', 'ism'];
    const colors = ['#2050c0', '#c05020', '#209050'];
    const trainers = await Promise.all(objectives.map((o) => remote.createTraining(backend, { data: 'ring8', sde: { kind: 'vp' }, train: { batch: 256, lr: 0.002, warmup: 50, seed: 0, objective: o } })));
    try {
      const series = objectives.map((o, i) => ({ name: o, color: colors[i], xs: [0], ys: [0] }));
      for (let i = 0; i < 3; i++) series[i].ys[0] = (await trainers[i].fisher(300)) as number;
      for (let step = 50; step <= n && current(); step += 50) {
        for (let i = 0; i < 3; i++) {
          await trainers[i].train(50);
          series[i].xs.push(step);
          series[i].ys.push((await trainers[i].fisher(300)) as number);
        }
        drawLines(c, series, 'Fisher divergence to the exact score (log scale)');
        text.textContent = series.map((s) => `${s.name} ${s.ys[s.ys.length - 1].toFixed(4)}`).join('   ') + `   (step ${step})`;
        demoState.curves = series.map((s) => ({ name: s.name, xs: s.xs, ys: s.ys }));
        await frame();
      }
      if (current()) demoState.done = true;
    } finally {
      // a superseded or finished run's networks are dropped (the worker's memory is reused)
      for (const t of trainers) t.free();
    }
  });
  go.onclick = () => void run();
  await run();
}

/** The image lab: the shipped MNIST U-Net samples a grid, every denoising step drawn. */
async function images(root: HTMLElement, labBackend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote, judgeRemote: Remote, model?: ImageModel, auto = false): Promise<void> {
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
  const controls = el('div');
  controls.append(el('label', {}, 'sampler '), sampler, el('label', {}, ' steps '), steps, go);
  root.append(controls);
  const pad = el('canvas', { id: 'digitPad', width: '224', height: '224', class: 'demo-plot fit' });
  const bpdBtn = el('button', { id: 'bpdBtn' }, 'bits/dim of my digit');
  const bpdCancel = el('button', { id: 'bpdCancel', title: 'stop the likelihood computation (it runs in its own worker)' }, 'cancel');
  const brush = el('select', { id: 'padBrush' });
  brush.add(new Option('brush: ink', 'ink'));
  brush.add(new Option('brush: region to inpaint', 'mask'));
  const inpaintBtn = el('button', { id: 'inpaintBtn' }, 'inpaint the region (16 samples)');
  const clearPad = el('button', { id: 'clearPad' }, 'clear');
  const bpdText = el('div', { class: 'mono', id: 'bpdText' }, 'draw a digit in the pad');
  // the samples and the pad side by side, so the lab fits a slide
  const padRow = el('div', { class: 'demo-row' });
  const gridCol = el('div');
  gridCol.append(c, text);
  const padCol = el('div', { style: 'max-width: 300px' });
  const padButtons = el('div', { class: 'pad-buttons' });
  padButtons.append(brush, clearPad, bpdBtn, bpdCancel, inpaintBtn);
  padCol.append(pad, padButtons, bpdText);
  padRow.append(gridCol, padCol);
  root.append(padRow);
  let bytes: Uint8Array;
  if (model) {
    bytes = model.bytes;
    document.getElementById('about')!.textContent = `demo: image lab (${model.name})`;
  } else {
    const res = await fetch('models/mnist-unet-ve.safetensors');
    if (!res.ok) throw new Error(`models/mnist-unet-ve.safetensors: ${res.status} ${res.statusText}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  // the U-Net is another workload than the lab's toy sampler: with backend=auto and a
  // hardware adapter, one U-Net step on each backend decides where it runs
  let backend = labBackend;
  const adapter = auto ? await probeWebGpu() : null;
  if (adapter && !adapter.fallback) {
    text.textContent = 'timing one U-Net step on the CPU and on WebGPU…';
    const m = await measureBackends(remote, 'U-Net sampler', { sampler: { kind: 'pc', steps: 100 }, n: 16, seed: 0 }, 1, 1, { name: model?.name ?? 'mnist', bytes });
    backend = m.chosen;
    demoState.measured = m;
    document.getElementById('about')!.textContent += `; ${measureText(m)}`;
  }
  const session = (await remote.createSession(backend, {})).session;
  await session.loadWeights(model?.name ?? 'mnist', bytes);
  demoState.model = model?.name ?? 'mnist-unet-ve';
  // likelihoods in a second worker: they run beside the sampler and can be cancelled alone
  let judge: Session | null = null;
  const judgeSession = async () => {
    if (!judge?.alive) {
      judge = (await judgeRemote.createSession(backend, {})).session;
      await judge.loadWeights(model?.name ?? 'mnist', bytes);
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
    // one likelihood at a time: the button waits for the answer (or cancel)
    bpdBtn.disabled = true;
    bpdText.textContent = 'computing (probability-flow ODE)…';
    bitsPerDim(padPixels.slice())
      .then(
        (r) => (bpdText.textContent = `${r.bpd[0].toFixed(2)} bits/dim   (NFE ${r.nfe}, ${r.seconds.toFixed(1)} s)`),
        (e) => (bpdText.textContent = (e as Error).message),
      )
      .finally(() => (bpdBtn.disabled = false));
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
  // sampling and inpainting share the sampler's session: one job at a time, the newest wins
  const start = latest(alive, (e) => (text.textContent = e.message));
  /** Inpaint the masked region of the pad: 16 samples, every step drawn. */
  const inpaint = (n: number) => {
    if (!padMask.some((v) => v === 1)) throw new Error('inpaint: paint the region to fill first (brush: region to inpaint)');
    if (!Number.isInteger(n) || n < 10 || n > 2000) throw new Error(`steps: ${n}; accepted: an integer in [10, 2000]`);
    const known = padPixels.slice();
    const mask = padMask.map((v) => 1 - v);
    return start(async (current) => {
      await session.setState({ ...session.state(), sampler: { kind: 'pc', steps: n }, n: 16, seed: 1, denoise: true });
      await session.inpaint(known, mask);
      let info: StepInfo | null = null;
      while (current() && !info?.done) {
        info = (await session.step(1)) as StepInfo | null;
        drawDigits(c, (await session.particles()) as Float32Array, 16);
        text.textContent = `inpainting: ${info ? stepText(info, true) : ''}   t = ${info?.t.toFixed(4)}`;
        await frame();
      }
      const p = Array.from((await session.particles()) as Float32Array);
      demoState.inpainted = p;
      return p;
    });
  };
  demoHooks.inpaint = (n = 100) => inpaint(n);
  inpaintBtn.onclick = () => {
    try {
      void inpaint(Number(steps.value));
    } catch (e) {
      bpdText.textContent = (e as Error).message;
    }
  };
  demoHooks.bitsPerDim = (values: number[]) => bitsPerDim(Float32Array.from(values));
  const run = () => {
    const n = Number(steps.value);
    if (!Number.isInteger(n) || n < 10 || n > 2000) {
      text.textContent = `steps: ${steps.value}; accepted: an integer in [10, 2000]`;
      return Promise.resolve();
    }
    const kind = sampler.value;
    return start(async (current) => {
      delete demoState.done;
      const spec: Record<string, unknown> = kind === 'ode' ? { kind: 'ode', solver: 'rk4', steps: n } : kind === 'pc' ? { kind: 'pc', steps: n } : { kind: 'em', steps: n };
      await session.setState({ ...session.state(), sampler: spec, n: 16, seed: 0, denoise: kind !== 'ode' });
      let info: StepInfo | null = null;
      const t0 = performance.now();
      while (current() && !info?.done) {
        info = (await session.step(1)) as StepInfo | null;
        const p = (await session.particles()) as Float32Array;
        drawDigits(c, p, 16);
        text.textContent = `${info ? stepText(info, kind !== 'ode') : ''}   t = ${info?.t.toFixed(4)}   NFE ${info?.nfe}   ${((performance.now() - t0) / 1000).toFixed(1)} s`;
        demoState.step = info?.index;
        await frame();
      }
      if (!current()) return;
      const p = (await session.particles()) as Float32Array;
      let ink = 0;
      for (const v of p) ink += Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : NaN;
      demoState.meanPixel = ink / p.length;
      demoState.seconds = (performance.now() - t0) / 1000; // drawing every step included
      demoState.done = true;
    });
  };
  go.onclick = () => void run();
  await run();
}
