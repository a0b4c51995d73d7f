// Demo: data on a manifold (../demos.ts opens and closes demos).
import { Remote } from '../wasm';
import { drawScene, drawLines, gridPoints } from '../plot';
import { VIEW } from '../page';
import { el, look, canvas, column, trainNet, demoState } from './shared';

export async function manifold(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Data on a manifold: a circle, with and without noise'),
    el('p', {}, 'Left: 2,000 points exactly on a circle of radius 5; middle: the same with Gaussian noise of std 0.3; one network trained on each (VE SDE, 2,000 steps). Colour: log₁₀ |s_θ(x, t)| at t = 0.01, one scale for both panels; arrows: its direction. Right: |s| against the distance d = r − 5 to the circle, learned (solid) and exact (dashed: the circle, with its noise, smoothed by N(0, σ(t)²)). Without noise the score across the circle is about d/σ(t)², so near the circle it grows like 1/σ(t) as t → 0: it blows up, and the data have no score at t = 0. With noise it is about d/(0.3² + σ(t)²) and stays finite. At small t the networks are least accurate: s_θ = output/σ(t), so an output error is multiplied by 1/σ(t) ≈ 90.'),
    look('The left panel\'s colour peaks sharply on the circle and the chart\'s thick orange curve climbs towards it: without noise the score has no limit as t → 0. The middle panel and the blue curves stay bounded: a little noise makes the data a density again. The samples (dots) are thinner on the left: the network cannot follow an unbounded score.'),
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
  key.innerHTML = '<span class="swatch" style="background:#D55E00"></span> no noise  <span class="swatch" style="background:#0072B2"></span> noisy  thick: t = 0.01, thin: t = 0.3; solid: learned, dashed: exact';
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
  fields.forEach((f, i) => drawScene(cs[i], { particles: f.p, dim: 2, means: [], view: VIEW, heat: { grid: fine, values: f.heat, palette: 'error', label: 'log₁₀ ‖s_θ(x, 0.01)‖', range: [lo, hi] }, arrows: [{ grid, vectors: Float32Array.from(f.arrows), color: 'rgba(20,20,40,0.8)' }] }));
  const colors: Record<string, string> = { '0': '#D55E00', '0.3': '#0072B2' };
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
