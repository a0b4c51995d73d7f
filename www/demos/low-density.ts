// Demo: where the score is not learned (../demos.ts opens and closes demos).
import { Remote } from '../wasm';
import { drawScene, gridPoints, type Scene } from '../plot';
import { VIEW } from '../page';
import { el, look, canvas, trainNet, demoState } from './shared';

export async function lowDensity(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Where the data are not, the score is not learned'),
    el('p', {}, 'A network trained on the two-mode mixture (in this page, now). Heat: the error ‖s_θ − ∇log p_t‖ at small t; black arrows: the learned score, red: the exact one. The error is small on the modes and large in the empty space between and around them: Langevin started there follows a wrong field. Noise (larger t) spreads the data over that space, which is why annealing helps.'),
    look('Where the colour is dark the learned and the exact arrows disagree: far from the two modes, where the training data put no weight (denoising score matching averages the error over p_t). A sampler starts from noise, exactly there; a large t spreads p_t over the plane, so the score is learned where the sampler begins.'),
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
    heat: { grid: fine, values: err.map((v) => Math.log1p(v)), palette: 'error', label: 'ln(1 + ‖s_θ − ∇ log p‖)' },
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
