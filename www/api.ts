// window.scorelab: the page API that tests and slide decks use (DESIGN.md, Page API), and
// the same commands by postMessage from an embedding page:
//   frame.contentWindow.postMessage({ id, cmd: 'step', args: [10] }, '*')
// answers { id, result } or { id, error }.
import type { Playground } from './main';
import { demoState, demoHooks, demoWorkers } from './demos';
import { parsePoints } from './points';

export function installApi(pg: Playground): void {
  const api = {
    get backend(): string {
      return pg.session?.backend ?? 'loading';
    },
    get ready(): boolean {
      return document.body.dataset.ready === '1';
    },
    state: () => pg.state(),
    setState: (obj: Record<string, unknown>) => pg.setState(obj),
    run: () => pg.run(),
    step: (k = 1) => {
      if (!Number.isInteger(k) || k < 1 || k > 1_000_000) {
        return Promise.reject(new Error(`invalid k: must be an integer in [1, 1000000], got ${k}`));
      }
      return pg.step(k);
    },
    particles: () => pg.readParticles(),
    report: async () => pg.session.report(await pg.readParticles(), 20),
    /** Each worker's wasm memory in bytes (lab, training, the open demo's). */
    memory: () => Object.fromEntries([pg.remote, pg.trainRemote, ...demoWorkers()].map((r) => [r.label, r.memoryBytes])),
    /** Stop a long computation (as the cancel button and Esc). */
    cancel: () => pg.cancel(),
    train: (k = 100) => {
      if (!Number.isInteger(k) || k < 1 || k > 100_000) {
        return Promise.reject(new Error(`invalid k: must be an integer in [1, 100000], got ${k}`));
      }
      return pg.train(k);
    },
    useTrained: async () => {
      if (!pg.training) throw new Error('train first');
      const bytes = await pg.trainSerial(() => pg.training!.export());
      await pg.loadWeights('browser', bytes);
    },
    /** Step back through the recorded frames (display only). */
    stepBack: (k = 1) => pg.stepBack(k),
    /** Frames recorded (2-D models), for trajectories. */
    frameCount: () => pg.frames.length,
    /** The learned (and exact) score at points (n·2 values) and time t. */
    scoreField: (points: number[], t: number) => pg.serial(() => pg.session.scoreField(Float32Array.from(points), t)),
    /** log p_t at points (closed form for mixtures, the ODE for networks). */
    logDensity: async (points: number[], t = 1e-3) => Array.from((await pg.serial(() => pg.session.logDensity(Float32Array.from(points), t, 1e-3))) as Float32Array),
    overlays: (o: Record<string, unknown>) => {
      Object.assign(pg.overlays, o);
      for (const k of ['model', 'exact', 'error', 'density', 'trails'] as const) {
        const box = document.getElementById(`ov-${k}`) as HTMLInputElement | null;
        if (box) box.checked = pg.overlays[k];
      }
      return pg.refresh(false);
    },
    /** Training data from points (as if drawn) or from a file's bytes (.npy/.csv). */
    setTrainingPoints: (points: number[]) => {
      pg.drawn = points.slice();
      pg.trainingData = 'drawn';
      pg.resetTraining(`${points.length / 2} points set by a script`);
    },
    openPointsFile: (name: string, bytes: number[]) => {
      const points = parsePoints(name, Uint8Array.from(bytes));
      pg.uploaded = { name, points };
      pg.trainingData = 'uploaded';
      pg.resetTraining(`${name}: ${points.length / 2} points`);
      return points.length / 2;
    },
    /** Sample from a mixture of one's own ({weights, means, covs}, 2-D), as a dropped .json. */
    loadMixture: (spec: unknown) => pg.loadMixture(spec),
    setObjective: (o: string) => {
      if (!pg.objectives.includes(o)) throw new Error(`objective: unknown '${o}'; accepted: ${pg.objectives.join(', ')}`);
      pg.objective = o;
      pg.resetTraining(`a new network will be trained with ${o}`);
    },
    lossHistory: () => pg.lossHistory,
    /** Call a function the open demo offers (images: setPad(784 values), bitsPerDim(n*784 values)). */
    demoCall: async (name: string, ...args: unknown[]) => {
      const f = demoHooks[name];
      if (!f) throw new Error(`demo function '${name}' is not offered by this demo; offered: ${Object.keys(demoHooks).join(', ') || 'none'}`);
      return f(...args);
    },
    /** The open demo's results so far (synchronous; for polling). */
    demoState: () => ({ ...demoState }),
    demo: (name?: string) => (name === undefined ? Promise.resolve({ ...demoState }) : pg.openDemo(name).then(() => ({ ...demoState }))),
    /** The hash that reproduces the current state. */
    link: () => location.hash,
  };
  (window as any).scorelab = api;
  window.addEventListener('message', async (ev: MessageEvent) => {
    const msg = ev.data;
    if (!msg || typeof msg !== 'object' || typeof msg.cmd !== 'string') return;
    const reply = (body: Record<string, unknown>) => (ev.source as Window | null)?.postMessage({ id: msg.id, ...body }, { targetOrigin: '*' });
    const fn = (api as any)[msg.cmd];
    if (typeof fn !== 'function') {
      reply({ error: `unknown command '${msg.cmd}'; accepted: ${Object.keys(api).join(', ')}` });
      return;
    }
    try {
      const result = await fn(...(Array.isArray(msg.args) ? msg.args : []));
      reply({ result: result instanceof Float32Array ? Array.from(result) : result });
    } catch (e) {
      reply({ error: (e as Error).message ?? String(e) });
    }
  });
}
