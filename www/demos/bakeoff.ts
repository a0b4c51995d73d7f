// Demo: the objective bake-off (../demos.ts opens and closes demos).
import { Remote } from '../wasm';
import { drawLines } from '../plot';
import { el, labelled, look, frame, latest, demoState } from './shared';

export async function bakeoff(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Objective bake-off: DSM vs sliced vs implicit score matching'),
    el('p', {}, 'Three identical networks trained on samples of the ring of eight Gaussians (VP SDE), one per objective, same seed and batch. The curve is each model\'s Fisher divergence E_t λ(t) E‖s_θ − ∇log p_t‖² against the closed-form score (train::fisher, the same function the tests use), every 50 steps.'),
    look('Which curve falls fastest and how low it ends: DSM needs one network pass per point and no derivative of the network; sliced score matching needs a directional derivative (here by finite differences) and implicit score matching the full trace (d of them), so they cost more per step and are noisier. All three aim at the same minimum, the exact score (Fisher divergence 0).'),
  );
  const steps = el('input', { type: 'number', value: '400', min: '50', max: '5000', step: '50', id: 'bakeoffSteps', title: 'optimiser steps for each of the three networks (50 to 5000)' });
  const go = el('button', { id: 'bakeoffRun', title: 'train the three networks from scratch, side by side' }, 'train');
  const c = el('canvas', { id: 'bakeoffPlot', width: '640', height: '300', class: 'demo-plot fit' });
  const text = el('div', { class: 'mono', id: 'bakeoffText' });
  root.append(labelled('steps ', steps), go, c, text);
  const start = latest(alive, (e) => (text.textContent = e.message));
  const run = () => start(async (current) => {
    const n = Number(steps.value);
    if (!Number.isInteger(n) || n < 50 || n > 5000) throw new Error(`bake-off steps: ${steps.value}; accepted: an integer in [50, 5000]`);
    delete demoState.done;
    const objectives = ['dsm', 'ssm', 'ism'];
    const colors = ['#0072B2', '#D55E00', '#009E73'];
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
