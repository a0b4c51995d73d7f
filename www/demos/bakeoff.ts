// Demo: the objective bake-off (../demos.ts opens and closes demos).
import { Remote } from '../wasm';
import { drawLines } from '../plot';
import { el, labelled, look, column, frame, latest, demoState } from './shared';

export async function bakeoff(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Objective bake-off: DSM, sliced and implicit score matching, flow matching'),
    el('p', {}, 'Four identical MLPs trained on samples of the ring of eight Gaussians, one per objective, same seed and batch, all on the linear path x_t = (1 − t) x₀ + t z (flow matching\'s; the score objectives train on any path). Flow matching\'s network predicts the velocity v = E[z − x₀ | x_t] (Lipman et al. 2023), the others the score s, whose velocity is v = a(t) x − ½ g(t)² s = −(x + t s)/(1 − t). On a mixture the exact velocity is known in closed form, so one yardstick serves all four: each model\'s velocity error E_t E‖v_θ − v‖² over ten times spread evenly on (0, 1) (train::fisher::velocity_error, the function the tests use), and below it each model\'s Fisher divergence E_t std(t)² E‖s_θ − ∇log p_t‖² (t = 0.05, 0.2, 0.5, 0.8), every 50 steps.'),
    look('Which curve falls fastest and how low it ends. DSM and flow matching need one network pass per point; sliced score matching a directional derivative (here by finite differences) and implicit score matching the full trace (d of them), so they cost more per step and are noisier. Flow matching\'s loss is the velocity error itself (up to a constant); DSM\'s is the same error weighted by (1 − t)², so it pays little attention to large t, where the ODE starts. Each loss is one yardstick less a constant: trained long enough, flow matching ends lowest on the first and DSM on the second (tests/native/flow.rs checks both after 1500 steps; at a few hundred the second is still a race). All four aim at the same minimum, the exact velocity (both errors 0).'),
  );
  const steps = el('input', { type: 'number', value: '400', min: '50', max: '5000', step: '50', id: 'bakeoffSteps', title: 'optimiser steps for each of the four networks (50 to 5000)' });
  const go = el('button', { id: 'bakeoffRun', title: 'train the four networks from scratch, side by side' }, 'train');
  const c = el('canvas', { id: 'bakeoffPlot', width: '480', height: '260', class: 'demo-plot fit', role: 'img', 'aria-label': "each objective's velocity error against the exact velocity, by training step" });
  const cf = el('canvas', { id: 'bakeoffFisher', width: '480', height: '260', class: 'demo-plot fit', role: 'img', 'aria-label': "each objective's Fisher divergence from the exact score, by training step" });
  const text = el('div', { class: 'mono', id: 'bakeoffText' });
  const plots = el('div', { class: 'demo-row' });
  plots.append(column("velocity error (flow matching's loss)", c, el('span')), column("Fisher divergence (DSM's loss)", cf, el('span')));
  root.append(labelled('steps ', steps), go, plots, text);
  const start = latest(alive, (e) => (text.textContent = e.message));
  const run = () => start(async (current) => {
    const n = Number(steps.value);
    if (!Number.isInteger(n) || n < 50 || n > 5000) throw new Error(`bake-off steps: ${steps.value}; accepted: an integer in [50, 5000]`);
    delete demoState.done;
    const objectives = ['dsm', 'ssm', 'ism', 'flow-matching'];
    const colors = ['#0072B2', '#D55E00', '#009E73', '#CC79A7'];
    const trainers = await Promise.all(objectives.map((o) => remote.createTraining(backend, { data: 'ring8', sde: { kind: 'linear' }, objective: o, train: { batch: 256, lr: 0.002, warmup: 50, seed: 0 } })));
    try {
      const series = objectives.map((o, i) => ({ name: o, color: colors[i], xs: [0], ys: [] as number[] }));
      const fisher = objectives.map((o, i) => ({ name: o, color: colors[i], xs: [0], ys: [] as number[] }));
      const measure = async (i: number) => {
        series[i].ys.push((await trainers[i].velocityError(300)) as number);
        fisher[i].ys.push((await trainers[i].fisher(300)) as number);
      };
      for (let i = 0; i < objectives.length; i++) await measure(i);
      for (let step = 50; step <= n && current(); step += 50) {
        for (let i = 0; i < objectives.length; i++) {
          await trainers[i].train(50);
          series[i].xs.push(step);
          fisher[i].xs.push(step);
          await measure(i);
        }
        drawLines(c, series, 'E‖v_θ − v‖² over t ∈ (0, 1) (log scale)');
        drawLines(cf, fisher, 'E std² ‖s_θ − ∇log p_t‖² (log scale)');
        text.textContent = series.map((s, i) => `${s.name} ${s.ys[s.ys.length - 1].toFixed(4)} / ${fisher[i].ys[fisher[i].ys.length - 1].toFixed(4)}`).join('   ') + `   (velocity error / Fisher divergence, step ${step})`;
        demoState.curves = series.map((s) => ({ name: s.name, xs: s.xs, ys: s.ys }));
        demoState.fisher = fisher.map((s) => ({ name: s.name, xs: s.xs, ys: s.ys }));
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
