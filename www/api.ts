// window.scorelab: the page API that tests and slide decks use (DESIGN.md, Page API), and
// the same commands by postMessage from an embedding page:
//   frame.contentWindow.postMessage({ id, cmd: 'step', args: [10] }, '*')
// answers { id, result } or { id, error }.
import type { Playground } from './main';
import { demoState, demoHooks, demoWorkers } from './demos';
import { measureBackends, TOY_WORKLOAD } from './wasm';
import { $ } from './page';

//
// Early callers: the API exists as soon as the page's script runs, before the wasm module
// and the session are ready. Every asynchronous call waits until the page is ready (and
// rejects with the reason if it failed to start); postMessage commands too. The synchronous
// readers (`state()`, `frameCount()`, ...) throw a message saying to await
// `scorelab.whenReady()` first. `backend` reads 'loading' until then, then 'webgpu' or 'cpu'.

export function installApi(pg: Playground): void {
  let isReady = false;
  pg.ready.then(() => (isReady = true), () => undefined);
  /** A synchronous reader: only once the page is ready. */
  const now = <A extends unknown[], T>(name: string, f: (...a: A) => T) => (...a: A): T => {
    if (!isReady) throw new Error(`scorelab.${name}(): the page is still loading (scorelab.backend is 'loading'); await scorelab.whenReady() first (asynchronous calls wait by themselves)`);
    return f(...a);
  };
  /** An asynchronous call: waits for the page. */
  const later = <A extends unknown[], T>(f: (...a: A) => T | Promise<T>) => async (...a: A): Promise<T> => {
    await pg.ready;
    return f(...a);
  };
  const api = {
    /** 'loading' until the page is ready, then the session's backend: 'webgpu' or 'cpu'. */
    get backend(): string {
      return isReady ? pg.session.backend : 'loading';
    },
    get ready(): boolean {
      return isReady;
    },
    /** Time the toy sampler on the CPU and on WebGPU now: {cpu, webgpu, adapter, fallback, chosen}
     * (steps/s; what `backend=auto` does at start on a hardware adapter). */
    measureBackends: later(() => measureBackends(pg.remote, 'toy sampler', TOY_WORKLOAD, 20, 3)),
    /** The measurement behind the start-up choice (null when none was needed). */
    backendChoice: now('backendChoice', () => pg.remote.measured),
    /** Resolves when the page is ready (rejects with the reason if it failed to start). */
    whenReady: () => pg.ready,
    state: now('state', () => pg.state()),
    setState: later((obj: Record<string, unknown>) => pg.setState(obj)),
    run: later(() => pg.run()),
    step: later((k: number = 1) => {
      if (!Number.isInteger(k) || k < 1 || k > 1_000_000) {
        return Promise.reject(new Error(`invalid k: must be an integer in [1, 1000000], got ${k}`));
      }
      return pg.step(k);
    }),
    particles: later(() => pg.readParticles()),
    report: later(async () => pg.session.report(await pg.readParticles(), 20)),
    /** Each worker's wasm memory in bytes (lab, training, the open demo's). */
    memory: () => Object.fromEntries([pg.remote, pg.trainRemote, ...demoWorkers()].map((r) => [r.label, r.memoryBytes])),
    /** Stop a long computation (as the cancel button and Esc). */
    cancel: later(() => pg.cancel()),
    train: later((k: number = 100) => {
      if (!Number.isInteger(k) || k < 1 || k > 100_000) {
        return Promise.reject(new Error(`invalid k: must be an integer in [1, 100000], got ${k}`));
      }
      return pg.train(k);
    }),
    /** Destroy a worker's WebGPU devices, as a GPU reset would ('training' or 'lab'): the
     * page must carry on on the CPU (a test hook; resolves to the loss as reported). */
    loseDevice: later((which: string = 'training') => {
      if (which !== 'training' && which !== 'lab') return Promise.reject(new Error(`invalid worker '${which}': accepted: training, lab`));
      return (which === 'lab' ? pg.remote : pg.trainRemote).loseDevice();
    }),
    useTrained: later(async () => {
      if (!pg.training) throw new Error('train first');
      const bytes = await pg.trainSerial(() => pg.training!.export());
      await pg.loadWeights('browser', bytes);
    }),
    /** Step back through the recorded frames (display only). */
    stepBack: later((k: number = 1) => pg.stepBack(k)),
    /** Frames recorded (2-D models), for trajectories. */
    frameCount: now('frameCount', () => pg.frames.length),
    /** Trajectory drawing: particles followed and segments drawn by the last frame. */
    trailStats: now('trailStats', () => ({ followed: pg.trails.indices(pg.particles.length / 2).length, lastSegments: pg.trails.lastSegments })),
    /** Player loops running now (play / pause / play never leaves two). */
    loopsRunning: now('loopsRunning', () => pg.loopsRunning),
    /** The learned (and exact) score at points (n·2 values) and time t. */
    scoreField: later((points: number[], t: number) => pg.serial(() => pg.session.scoreField(Float32Array.from(points), t))),
    /** log p_t at points (closed form for mixtures, the ODE for networks). */
    logDensity: later(async (points: number[], t: number = 1e-3) => Array.from((await pg.serial(() => pg.session.logDensity(Float32Array.from(points), t, 1e-3))) as Float32Array)),
    /** Open a weight file's bytes as a dropped file would (routed to the lab or the image lab). */
    openWeights: later((name: string, bytes: number[] | Uint8Array) => pg.openWeights(name, Uint8Array.from(bytes))),
    overlays: later((o: Record<string, unknown>) => {
      Object.assign(pg.overlays, o);
      for (const k of ['model', 'exact', 'error', 'density', 'trails'] as const) {
        const box = document.getElementById(`ov-${k}`) as HTMLInputElement | null;
        if (box) box.checked = pg.overlays[k];
      }
      return pg.refresh(false);
    }),
    /** Training data from points (as if drawn) or from a file's bytes (.npy/.csv). */
    setTrainingPoints: now('setTrainingPoints', (points: number[], labels?: number[]) => {
      if (labels !== undefined && labels.length * 2 !== points.length) throw new Error(`labels: need one class per point (${points.length / 2} points), got ${labels.length}`);
      pg.drawn = points.slice();
      pg.drawnLabels = labels?.slice() ?? points.filter((_, i) => i % 2 === 0).map(() => 0);
      pg.trainingData = 'drawn';
      pg.resetTraining(`${points.length / 2} points set by a script`);
    }),
    openPointsFile: later(async (name: string, bytes: number[]) => {
      const points = await pg.parsePoints(name, Uint8Array.from(bytes));
      pg.uploaded = { name, points };
      pg.trainingData = 'uploaded';
      pg.resetTraining(`${name}: ${points.length / 2} points`);
      return points.length / 2;
    }),
    /** Sample from a mixture of one's own ({weights, means, covs}, 2-D), as a dropped .json. */
    loadMixture: later((spec: unknown) => pg.loadMixture(spec)),
    /** Train a class-conditional network (as the "by class" box). */
    setConditional: now('setConditional', (on: boolean) => {
      pg.conditional = on === true;
      $<HTMLInputElement>('trainConditional').checked = pg.conditional;
      pg.resetTraining(`a new ${pg.conditional ? 'class-conditional' : 'unconditional'} network will be trained`);
    }),
    setObjective: now('setObjective', (o: string) => {
      if (!pg.objectives.includes(o)) throw new Error(`objective: unknown '${o}'; accepted: ${pg.objectives.join(', ')}`);
      pg.objective = o;
      pg.resetTraining(`a new network will be trained with ${o}`);
    }),
    lossHistory: () => pg.lossHistory,
    /** Call a function the open demo offers (images: setPad(784 values), bitsPerDim(n*784 values)). */
    demoCall: later(async (name: string, ...args: unknown[]) => {
      const f = demoHooks[name];
      if (!f) throw new Error(`demo function '${name}' is not offered by this demo; offered: ${Object.keys(demoHooks).join(', ') || 'none'}`);
      return f(...args);
    }),
    /** The open demo's results so far (synchronous; for polling). */
    demoState: () => ({ ...demoState }),
    demo: later((name?: string) => (name === undefined ? Promise.resolve({ ...demoState }) : pg.openDemo(name).then(() => ({ ...demoState })))),
    /** The hash that reproduces the current state. */
    link: () => location.hash,
    /** The last step's info (null before the first step). */
    info: now('info', () => pg.info),
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
      // commands sent while the page loads wait for it (a slide that drives the page on load)
      await pg.ready;
      const result = await fn(...(Array.isArray(msg.args) ? msg.args : []));
      reply({ result: result instanceof Float32Array ? Array.from(result) : result });
    } catch (e) {
      reply({ error: (e as Error).message ?? String(e) });
    }
  });
}
