// Demo: reverse SDE vs probability-flow ODE (../demos.ts opens and closes demos).
import { Remote } from '../wasm';
import { drawScene, TrailLayer } from '../plot';
import { VIEW } from '../page';
import { el, look, canvas, column, runBoth, demoState } from './shared';

export async function sdeVsOde(root: HTMLElement, backend: 'webgpu' | 'cpu', alive: () => boolean, remote: Remote): Promise<void> {
  root.append(
    el('h2', {}, 'Reverse SDE vs probability-flow ODE, from the same noise'),
    el('p', {}, 'Both start from the same prior samples (same seed). The reverse-time SDE (Euler–Maruyama) adds fresh noise every step: its paths are rough and a starting point can end in any mode. The probability-flow ODE is deterministic: smooth paths, the same end point for the same start, and the same distribution at every t.'),
    look('The two clouds at the end: the same eight modes with the same spread (the sliced W2 under each plot is the sliced Wasserstein-2 distance to as many exact samples: lower is closer to the data; the two should be alike). The paths: the SDE\'s jitter and cross each other; the ODE\'s are smooth and never cross, because a deterministic flow is one-to-one. Count the cost too: NFE, score evaluations.'),
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
