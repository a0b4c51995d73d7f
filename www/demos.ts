// The lectures' demos, each one click (or one link: #demo=NAME) away. Each builds its own
// panel in #demo with its own sessions in its own web worker (a `Remote`); opening another
// demo terminates that worker, which cancels whatever the running one computes. Each demo
// is a module of www/demos/; what they share is www/demos/shared.ts.
import { Cancelled, Remote } from './wasm';
import { demoHooks, demoState, type ImageModel } from './demos/shared';
import { pitfall } from './demos/pitfall';
import { sdeVsOde } from './demos/sde-vs-ode';
import { lowDensity } from './demos/low-density';
import { manifold } from './demos/manifold';
import { bakeoff } from './demos/bakeoff';
import { images } from './demos/images';

let generation = 0;
/** The open demo's workers. */
let workers: Remote[] = [];
export const demoWorkers = (): Remote[] => workers.slice();

/** Handles the tests and slide decks read, and the functions demos offer to scripts. */
export { demoState, demoHooks, type ImageModel };

/** What a demo shows in the page's header (instead of the lab's model). */
const TITLES: Record<string, string> = {
  pitfall: 'demo: the mixture-weight pitfall (two-modes, exact score)',
  'sde-vs-ode': 'demo: reverse SDE vs probability-flow ODE (ring8, VP)',
  'low-density': 'demo: the score is not learned where the data are not (two-modes, VP)',
  manifold: 'demo: data on a manifold (a circle, VE)',
  bakeoff: 'demo: objective bake-off (ring8, linear path)',
  images: 'demo: image lab (MNIST U-Net, VE σ = 25)',
};


/** What opening a demo needs of the page (the Playground). */
export interface DemoHost {
  readonly session: { backend: string };
  readonly hash: { backend: string };
}

export async function openDemo(pg: DemoHost, name: string, imageModel?: ImageModel): Promise<void> {
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
  // the lab's introduction is not the demo's; the demo says what to look for, below its
  // plots (so they stay on the first screen): a demo builds its panel before its first await
  document.getElementById('intro')!.hidden = true;
  try {
    const running = f();
    const look = root.querySelector('p.look');
    if (look) root.append(look);
    await running;
  } catch (e) {
    // a demo closed while it ran: its worker was terminated under it
    if (!alive() || e instanceof Cancelled) return;
    throw e;
  }
}
