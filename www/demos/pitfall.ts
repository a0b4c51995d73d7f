// Demo: the mixture-weight pitfall (../demos.ts opens and closes demos).
import { Remote, type StepInfo } from '../wasm';
import { drawScene } from '../plot';
import { VIEW } from '../page';
import { el, labelled, look, canvas, column, latest, runBoth, demoState } from './shared';

export async function pitfall(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'The mixture-weight pitfall: Langevin dynamics vs annealed Langevin'),
    el('p', {}, 'Two far-apart modes with weights π and 1 − π, both samplers fed the exact score. Plain Langevin mixes within each basin and never moves mass between them, so its mode ratio stays near the 50/50 it started with; annealed Langevin starts at a large noise level, where the modes overlap, and recovers π.'),
    look('Move π. The annealed sampler\'s mode weights follow it (within the spread of 1,000 samples, about ±0.03); plain Langevin\'s stay near 0.5 / 0.5 whatever π is. Why: inside each basin the score of the mixture is that of its own Gaussian, whatever the weights, so nothing pushes mass across the gap; at a large noise level the two modes overlap and the weights shape the score.'),
  );
  const slider = el('input', { type: 'range', min: '0.05', max: '0.95', step: '0.05', value: '0.8', id: 'pi', title: 'π, the weight of the lower-left mode (the other has 1 − π)', 'aria-label': 'mixture weight π' });
  const label = el('span', { id: 'piValue' }, 'π = 0.80');
  const go = el('button', { id: 'pitfallRun', title: 'run both samplers again from the same start' }, 'sample both');
  const row = el('div', { class: 'demo-row' });
  const cA = canvas('pitfallA');
  const cB = canvas('pitfallB');
  const tA = el('div', { class: 'mono', id: 'pitfallTextA' });
  const tB = el('div', { class: 'mono', id: 'pitfallTextB' });
  const colA = column('plain Langevin', cA, tA);
  const colB = column('annealed Langevin (NCSN)', cB, tB);
  row.append(colA, colB);
  root.append(labelled('mixture weight ', slider), label, go, row);
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
