// The playground page. The 2-D lab: choose a model (a mixture preset, a shipped or trained
// network), SDE and sampler, then play / pause / step / step back while the particles move
// from noise to the data; overlays show the learned and exact score, their error and the
// density; the training panel trains a network on a toy set, a mixture, points drawn with
// the mouse or an uploaded file. The lectures' demos live in demos.ts. `window.scorelab`
// (and postMessage) drive everything (api.ts). The wasm module runs in web workers
// (wasm.ts, worker.ts): one for the lab's sampler, one for its training; "cancel" (or Esc)
// stops a long computation by restarting the sampler's worker.
import { Cancelled, DeviceLost, Remote, stepText, type CpuEngine, type Preset, type Session, type Settings, type StepInfo, type Training } from './wasm';
import { parseHash, writeHash, hashString, type HashState } from './state';
import { drawScene, drawLines, gridPoints, TrailLayer, type Grid, type Scene } from './plot';
import { installApi } from './api';
import { openDemo, type ImageModel } from './demos';
import { keepFitted } from './fit';
import { saveModel, listModels, loadModel } from './store';
import { isolateWithServiceWorker } from './isolate';

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const ENUMS: Record<string, string[]> = {
  predictor: ['em', 'reverse-diffusion', 'ancestral', 'none'],
  corrector: ['langevin', 'none'],
  solver: ['rk45', 'rk4', 'heun', 'euler'],
};
const SDES = ['ve', 've-notebook', 'vp', 'subvp'];
const SAMPLERS = ['em', 'pc', 'langevin', 'ald', 'ode'];
/** Frames kept for stepping back and drawing trajectories. */
const MAX_FRAMES = 3000;
const VIEW = { lo: -10, hi: 10 };
/** Distance between two drawn points along a stroke (plot units). */
const DRAW_SPACING = 0.08;
/** Training steps per call into the worker (one loss point each). */
const TRAIN_CHUNK = 25;

export interface Overlays {
  model: boolean;
  exact: boolean;
  error: boolean;
  density: boolean;
  trails: boolean;
  /** Time the fields are drawn at; null follows the sampler. */
  t: number | null;
}

/** Particles (n·2 values) outside the plotted square, non-finite ones included. */
function countOutside(p: Float32Array, view: { lo: number; hi: number }): number {
  let k = 0;
  for (let i = 0; i + 1 < p.length; i += 2) {
    const x = p[i];
    const y = p[i + 1];
    if (!(x >= view.lo && x <= view.hi && y >= view.lo && y <= view.hi)) k++;
  }
  return k;
}

export class Playground {
  /** The worker of the lab's sampling session (overlays, density maps, RK45 runs). */
  remote = new Remote('lab');
  /** The worker of the lab's training, apart so that cancelling sampling keeps it. */
  trainRemote = new Remote('training');
  session!: Session;
  presets: Preset[] = [];
  toySets: string[] = [];
  /** The named objectives of the training panel (the library's NAMED_OBJECTIVES). */
  objectives: string[] = [];
  hash: HashState = { backend: 'auto', embed: false, hide: [], demo: null, k: null, settings: null, data: null, objective: null };
  playing = false;
  stepsPerFrame = 5;
  info: StepInfo | null = null;
  particles: Float32Array<ArrayBufferLike> = new Float32Array();
  /** Recorded particles after each step (index 0: the start) and the step infos. */
  frames: Float32Array[] = [];
  frameInfo: (StepInfo | null)[] = [];
  /** The frame shown when stepping back (null: the live sampler). */
  viewIndex: number | null = null;
  overlays: Overlays = { model: false, exact: false, error: false, density: false, trails: false, t: null };
  private overlayScene: Partial<Scene> = {};
  private busy: Promise<unknown> = Promise.resolve();

  training: Training | null = null;
  /** The spec the training was created with, and its last state while it trains on WebGPU
   * (taken after every chunk): a lost device continues from it on the CPU. */
  private trainingSpec: Record<string, unknown> | null = null;
  private trainingSnapshot: Uint8Array | null = null;
  /** A WebGPU device was lost in this page: new work goes to the CPU. */
  gpuLost = false;
  private trainingDeviceLost: DeviceLost | null = null;
  private trainBusy: Promise<unknown> = Promise.resolve();
  /** Set by cancel(): the running train(k) stops after its current chunk. */
  private stopTraining = false;
  private trainingNow = false;
  trainingData = 'ring8';
  objective = 'dsm';
  lossHistory: { step: number; loss: number }[] = [];
  stepsPerSecond = 0;
  autoTrain = false;
  drawMode = false;
  drawn: number[] = [];
  uploaded: { name: string; points: Float32Array } | null = null;
  /** Why the last points file was refused (training on "uploaded" says so until a good one comes). */
  uploadRefused: string | null = null;
  /** A mixture of one's own (a .json like `--model gmm:FILE`): model `mixture`. */
  mixture: Record<string, unknown> | null = null;

  /** Resolves when the page is ready (the session exists, the controls are built); the
   * API's calls wait for it. Rejects with the reason when the page failed to start. */
  readonly ready: Promise<void>;
  private markReady!: (ok: boolean, e?: unknown) => void;

  constructor() {
    this.ready = new Promise<void>((resolve, reject) => {
      this.markReady = (ok, e) => (ok ? resolve() : reject(e));
    });
    this.ready.catch(() => undefined);
  }

  async start(): Promise<void> {
    try {
      await this.startInner();
      this.markReady(true);
    } catch (e) {
      this.markReady(false, new Error(`the page failed to start: ${(e as Error).message ?? e}`));
      throw e;
    }
  }

  private async startInner(): Promise<void> {
    if (!wasmSimd()) {
      throw new Error('this browser has no WebAssembly SIMD, which the page needs (Chrome/Edge 91+, Firefox 89+, Safari 16.4+)');
    }
    this.remote.onBusy = () => this.updateCancel();
    this.trainRemote.onDeviceLost = (e) => {
      this.trainingDeviceLost = e;
      this.gpuLost = true;
    };
    this.remote.onDeviceLost = (e) => void this.samplerOnCpuAfter(e).catch((x) => this.showError(`the sampler could not move to the CPU: ${(x as Error).message}`));
    this.presets = await this.remote.fn<Preset[]>('presets');
    this.toySets = (await this.remote.fn<{ name: string }[]>('toySets')).map((t) => t.name);
    this.objectives = await this.remote.fn<string[]>('objectives');
    // a bad key never discards the good ones (`#backend=cpu&k=abc` stays on the CPU)
    const parsed = parseHash(location.hash, { data: this.namedTrainingSets(), objective: this.objectives });
    this.hash = parsed.state;
    const notes: string[] = [];
    if (parsed.errors.length) notes.push(`${parsed.errors.join('; ')} (ignored; the rest of the link is used)`);
    if (this.hash.data) this.trainingData = this.hash.data;
    if (this.hash.objective) this.objective = this.hash.objective;
    this.applyChrome();
    keepFitted(this.hash.embed);
    let created;
    try {
      created = await this.remote.createSession(this.hash.backend, this.hash.settings);
    } catch (e) {
      notes.push(`${(e as Error).message} (the link's settings were ignored)`);
      this.hash.settings = null;
      created = await this.remote.createSession(this.hash.backend, null);
    }
    this.session = created.session;
    if (notes.length) this.showError(notes.join(' | '));
    if (created.note) this.showNote(created.note);
    await this.showBackend(this.session.backend);
    this.buildControls();
    this.resetFrames();
    this.bindPlayer();
    this.bindOverlays();
    this.bindTraining();
    this.bindDrawing();
    this.bindDemos();
    if (this.hash.k) {
      const k = this.hash.k;
      try {
        await this.step(k);
      } catch (e) {
        this.showError(`invalid hash k: ${(e as Error).message}`);
      }
    }
    writeHash(this.hash);
    await this.refresh();
    if (this.hash.demo) await this.openDemo(this.hash.demo);
    document.body.dataset.ready = '1';
  }

  /** Embed mode and hidden parts, from the hash. */
  applyChrome(): void {
    document.body.classList.toggle('embed', this.hash.embed);
    for (const part of ['header', 'controls', 'player', 'train', 'overlays', 'info', 'demos']) {
      document.body.classList.toggle(`hide-${part}`, this.hash.hide.includes(part));
    }
  }

  state(): Settings {
    return this.session.state();
  }

  /** Validate and apply settings; on error show it and keep the old ones. */
  async setState(s: Settings): Promise<void> {
    try {
      await this.serial(async () => {
        this.playing = false;
        await this.session.setState(s);
        this.info = null;
        this.hash.settings = this.state();
        this.hash.k = null;
        writeHash(this.hash);
      });
    } catch (e) {
      // refused: the fields show the settings in force again (the message says what was wrong)
      this.buildControls();
      throw e;
    }
    this.buildControls();
    this.resetFrames();
    await this.refresh();
  }

  /** Run queued work one at a time (the session refuses overlapping commands). */
  serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.busy.then(f, f);
    this.busy = next.catch(() => undefined);
    return next;
  }

  resetFrames(): void {
    this.frames = [];
    this.frameInfo = [];
    this.viewIndex = null;
  }

  private record(p: Float32Array, info: StepInfo | null): void {
    if (this.session.dim() !== 2) return;
    if (this.frames.length >= MAX_FRAMES) {
      // keep every other frame: the trail stays complete at a coarser step
      this.frames = this.frames.filter((_, i) => i % 2 === 0);
      this.frameInfo = this.frameInfo.filter((_, i) => i % 2 === 0);
    }
    this.frames.push(p.slice());
    this.frameInfo.push(info);
  }

  async step(k: number): Promise<StepInfo | null> {
    // Stepping forward through recorded frames first (after "back").
    if (this.viewIndex !== null) {
      this.viewIndex = Math.min(this.viewIndex + k, this.frames.length - 1);
      if (this.viewIndex === this.frames.length - 1) this.viewIndex = null;
      await this.refresh(false);
      return this.info;
    }
    const info = await this.serial(() => this.session.step(k) as Promise<StepInfo | null>);
    if (info) this.info = info;
    this.hash.k = info?.index ?? null;
    writeHash(this.hash);
    await this.refresh();
    return this.info;
  }

  /** Show the previous recorded frame (the sampler itself is not rewound). */
  async stepBack(k = 1): Promise<StepInfo | null> {
    if (this.frames.length < 2) return this.info;
    const cur = this.viewIndex ?? this.frames.length - 1;
    this.viewIndex = Math.max(0, cur - k);
    this.playing = false;
    await this.refresh(false);
    return this.frameInfo[this.viewIndex] ?? null;
  }

  async run(): Promise<StepInfo | null> {
    this.playing = false;
    this.viewIndex = null;
    const info = await this.serial(() => this.session.run() as Promise<StepInfo | null>);
    if (info) this.info = info;
    this.hash.k = info?.index ?? null;
    writeHash(this.hash);
    await this.refresh();
    return this.info;
  }

  async readParticles(): Promise<Float32Array> {
    return this.serial(() => this.session.particles() as Promise<Float32Array>);
  }

  /** The time overlays are drawn at. */
  overlayTime(): number {
    if (this.overlays.t !== null) return this.overlays.t;
    const t = this.viewIndex !== null ? this.frameInfo[this.viewIndex]?.t : this.info?.t;
    return Math.min(1, Math.max(1e-3, t ?? 1));
  }

  /** Recompute the score / error / density layers (2-D models only). */
  async computeOverlays(): Promise<void> {
    const o = this.overlays;
    this.overlayScene = {};
    if (this.session.dim() !== 2 || !(o.model || o.exact || o.error || o.density)) return;
    // an exact model has no learned score: "learned score" and "score error" are for networks
    const network = this.isNetwork();
    const model = o.model && network;
    const error = o.error && network;
    const t = this.overlayTime();
    const arrows: Scene['arrows'] = [];
    if (model || o.exact || error) {
      const grid: Grid = gridPoints(VIEW, error ? 40 : 20);
      const f = (await this.serial(() => this.session.scoreField(grid.points, t) as Promise<{ model: number[]; exact: number[] | null }>));
      if (error) {
        if (!f.exact) throw new Error('score error: this model has no exact score to compare with (mixture presets and networks trained on them have one)');
        const values = new Float32Array(grid.g * grid.g);
        for (let i = 0; i < values.length; i++) values[i] = Math.hypot(f.model[2 * i] - f.exact[2 * i], f.model[2 * i + 1] - f.exact[2 * i + 1]);
        this.overlayScene.heat = { grid, values, palette: 'error' };
      }
      const coarse = gridPoints(VIEW, 20);
      const coarseField = error ? (await this.serial(() => this.session.scoreField(coarse.points, t) as Promise<{ model: number[]; exact: number[] | null }>)) : f;
      if (model) arrows.push({ grid: coarse, vectors: Float32Array.from(coarseField.model), color: 'rgba(30,30,60,0.8)' });
      if (o.exact) {
        if (!coarseField.exact) throw new Error('exact score: this model has no reference mixture');
        arrows.push({ grid: coarse, vectors: Float32Array.from(coarseField.exact), color: 'rgba(200,40,40,0.7)' });
      }
    }
    if (o.density && !error) {
      const grid = gridPoints(VIEW, 32);
      const lp = await this.serial(() => this.session.logDensity(grid.points, Math.min(t, 0.5), 1e-3) as Promise<Float32Array>);
      this.overlayScene.heat = { grid, values: lp.map((v) => Math.exp(v)), palette: 'density' };
    }
    this.overlayScene.arrows = arrows;
  }

  /** The trajectories' layer, brought up to frame `upto`. */
  readonly trails = new TrailLayer();
  private updateTrails(upto: number): TrailLayer {
    const plot = $<HTMLCanvasElement>('plot');
    this.trails.update(this.frames, upto, VIEW, plot.width, plot.height);
    return this.trails;
  }

  /** Is the lab's model a network (a loaded or trained weight file), not an exact mixture? */
  isNetwork(): boolean {
    return this.state().model.startsWith('weights:');
  }

  /** "learned score" and "score error" only mean something for a network. */
  private updateOverlayControls(): void {
    const network = this.isNetwork();
    for (const key of ['model', 'error'] as const) {
      const box = $<HTMLInputElement>(`ov-${key}`);
      box.disabled = !network;
      box.parentElement!.title = network ? '' : 'the model is an exact mixture: its score is the exact score; train or load a network to see a learned one';
    }
    $('ov-network-note').hidden = network;
  }

  async refresh(read = true): Promise<void> {
    if (read) {
      this.particles = await this.readParticles();
      if (this.viewIndex === null) this.record(this.particles, this.info);
    }
    const shown = this.viewIndex !== null ? this.frames[this.viewIndex] : this.particles;
    const shownInfo = this.viewIndex !== null ? this.frameInfo[this.viewIndex] : this.info;
    const preset = this.referencePreset();
    const anyOverlay = this.overlays.model || this.overlays.exact || this.overlays.error || this.overlays.density;
    if (anyOverlay && (!this.playing || (shownInfo?.index ?? 0) % 20 === 0)) {
      try {
        await this.computeOverlays();
      } catch (e) {
        this.showError((e as Error).message);
      }
    } else if (!anyOverlay) {
      this.overlayScene = {};
    }
    const dim = this.session.dim();
    if (dim === 2) {
      const upto = this.viewIndex ?? this.frames.length - 1;
      drawScene($('plot'), {
        particles: shown,
        dim,
        means: preset?.mixture.means ?? [],
        view: VIEW,
        ...this.overlayScene,
        trails: this.overlays.trails ? this.updateTrails(upto) : undefined,
        drawn: this.drawn.length ? Float32Array.from(this.drawn) : undefined,
      });
    }
    const i = shownInfo;
    $('info').textContent = i
      ? `${stepText(i, this.state().denoise)}   t = ${i.t.toFixed(4)}   NFE = ${i.nfe}   step size = ${i.step_size.toExponential(2)}` +
        (i.accepted === null ? '' : i.accepted ? '   accepted' : '   rejected') +
        (i.level === null ? '' : `   level ${i.level + 1}`) +
        (i.denoise ? '   (the final denoising step)' : '') +
        (i.done ? '   done' : '') +
        (this.viewIndex !== null ? `   (replaying frame ${this.viewIndex} of ${this.frames.length - 1})` : '')
      : 'ready: press play or step';
    if (i?.done && preset && this.viewIndex === null) {
      const r = await this.session.report(this.particles, 20);
      const fmt = (v: number[]) => v.map((w) => w.toFixed(3)).join(' ');
      const weights = this.state().weights ?? preset.mixture.weights;
      const total = (weights as number[]).reduce((a: number, b: number) => a + b, 0);
      $('report').textContent =
        (r.mode_weights.length <= 10 ? `mode weights ${fmt(r.mode_weights)} (mixture ${fmt((weights as number[]).map((w) => w / total))})   ` : '') +
        `sliced W2 ${r.sw.toFixed(3)} (exact vs exact: ${r.sw_median.toFixed(3)} median)`;
    } else {
      $('report').textContent = '';
    }
    // particles the square [-10, 10]² does not show (a badly trained model's samples)
    const outside = dim === 2 ? countOutside(shown, VIEW) : 0;
    const warn = $('plotWarning');
    warn.hidden = outside === 0;
    warn.textContent = outside ? `${outside} of ${shown.length / 2} particles lie outside the plotted square [${VIEW.lo}, ${VIEW.hi}]² and are not shown${this.state().model.startsWith('weights:') ? ' (is the network trained enough?)' : ''}` : '';
    $('play').textContent = this.playing ? 'pause' : 'play';
  }

  showError(msg: string): void {
    const box = $('error');
    box.textContent = msg;
    box.hidden = false;
  }

  /** The header's backend: WebGPU, or the CPU with its threads (and why one, where so). */
  async showBackend(backend: string): Promise<void> {
    const el = $('backend');
    document.body.dataset.backend = backend;
    el.removeAttribute('title');
    if (backend === 'webgpu') {
      el.textContent = 'WebGPU';
      return;
    }
    const engine = await this.remote.fn<CpuEngine>('cpuEngine');
    document.body.dataset.threads = String(engine.threads);
    el.textContent = engine.threads > 1 ? `CPU (wasm, ${engine.threads} threads)` : `CPU (wasm, 1 thread)`;
    if (engine.why) el.title = `one thread: ${engine.why}`;
    $('threadsWhy').textContent = engine.why ? `one thread: ${engine.why}` : '';
  }

  /** A hint that is not an error (e.g. why the CPU backend was chosen). */
  showNote(msg: string): void {
    const box = $('note');
    box.textContent = msg;
    box.hidden = !msg;
  }

  clearError(): void {
    $('error').hidden = true;
  }

  private bindPlayer(): void {
    $('play').onclick = () => {
      this.playing = !this.playing;
      if (this.playing) this.loop();
      else void this.refresh(false);
    };
    $('stepbtn').onclick = () => this.guard(() => this.step(1));
    $('backbtn').onclick = () => this.guard(() => this.stepBack(1));
    $('reset').onclick = () => this.guard(() => this.setState(this.state()));
    $('linkbtn').onclick = () =>
      this.guard(async () => {
        const url = location.href.split('#')[0] + hashString(this.hash);
        $('linkOut').textContent = url;
        await navigator.clipboard?.writeText(url).catch(() => undefined);
      });
    $('cancelBtn').onclick = () => this.guard(() => this.cancel());
    document.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && !$<HTMLButtonElement>('cancelBtn').disabled) void this.guard(() => this.cancel());
    });
    $<HTMLSelectElement>('speed').onchange = (e) => {
      this.stepsPerFrame = Number((e.target as HTMLSelectElement).value);
    };
  }

  /** Bumped by every play: a loop whose generation is stale stops (play, pause, play in
   * quick succession never leaves two loops stepping). */
  private loopGeneration = 0;
  /** Player loops running now (for the tests: never more than one). */
  loopsRunning = 0;

  private async loop(): Promise<void> {
    const my = ++this.loopGeneration;
    this.loopsRunning++;
    try {
      while (this.playing && my === this.loopGeneration) {
        try {
          const info = await this.step(this.stepsPerFrame);
          if (!info || (info.done && this.viewIndex === null)) this.playing = false;
        } catch (e) {
          this.playing = false;
          this.showError((e as Error).message);
        }
        await new Promise((r) => requestAnimationFrame(() => r(null)));
      }
    } finally {
      this.loopsRunning--;
    }
    if (my === this.loopGeneration) await this.refresh(false);
  }

  async guard(f: () => Promise<unknown>): Promise<void> {
    try {
      this.clearError();
      await f();
    } catch (e) {
      this.showError((e as Error).message ?? String(e));
    }
  }

  private bindOverlays(): void {
    for (const key of ['model', 'exact', 'error', 'density', 'trails'] as const) {
      const box = $<HTMLInputElement>(`ov-${key}`);
      box.checked = this.overlays[key];
      box.onchange = () =>
        this.guard(async () => {
          this.overlays[key] = box.checked;
          await this.refresh(false);
        });
    }
    const t = $<HTMLInputElement>('ov-t');
    const label = $('ov-t-value');
    t.oninput = () =>
      this.guard(async () => {
        const v = Number(t.value);
        this.overlays.t = v >= 1 ? null : Math.max(1e-3, 10 ** (-3 * (1 - v)));
        label.textContent = this.overlays.t === null ? 'follow sampler' : `t = ${this.overlays.t.toFixed(3)}`;
        await this.refresh(false);
      });
  }

  loadedNets: string[] = [];
  netData = new Map<string, string>();
  /** The loaded networks' bytes, to load them again into a restarted worker. */
  netBytes = new Map<string, Uint8Array>();

  /** The preset the current particles should match (a network's training preset). */
  referencePreset(): Preset | undefined {
    const s = this.state();
    if (s.model === 'mixture' && s.mixture) return { name: 'mixture', description: s.mixture.description ?? 'your mixture (model: mixture)', mixture: s.mixture };
    const name = s.model.startsWith('weights:') ? this.netData.get(s.model) : s.model;
    return this.presets.find((p) => p.name === name);
  }

  /** The `data` / `points` of a training spec for the chosen training data. */
  trainingSource(): { data: string; points?: number[] } {
    if (this.trainingData === 'drawn') {
      if (this.drawn.length < 4) throw new Error('drawn data: draw at least 2 points (tick "draw data" and drag on the plot)');
      return { data: 'drawn', points: this.drawn.slice() };
    }
    if (this.trainingData === 'uploaded') {
      if (!this.uploaded) throw new Error(this.uploadRefused ? `uploaded data: ${this.uploadRefused}; choose a valid .npy or .csv file, or another data set` : 'uploaded data: choose a .npy or .csv file first');
      return { data: this.uploaded.name, points: Array.from(this.uploaded.points) };
    }
    if (this.trainingData === 'mixture') {
      if (!this.mixture) throw new Error('mixture data: load a mixture .json first');
      return { data: 'mixture', mixture: this.mixture } as { data: string };
    }
    return { data: this.trainingData };
  }

  /** Run training work one call at a time, apart from the sampler's queue. */
  trainSerial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.trainBusy.then(f, f);
    this.trainBusy = next.catch(() => undefined);
    return next;
  }

  /** Train k steps of the page's network (created on first use from the training panel), in
   * chunks of at most TRAIN_CHUNK steps: the loss curve gets a point per chunk (from the
   * first chunk on), and cancel() stops training between two chunks (the network keeps the
   * steps it made). */
  async train(k: number): Promise<number> {
    return this.trainSerial(async () => {
      if (!this.training) {
        const s = this.state();
        this.trainingSpec = {
          ...this.trainingSource(),
          sde: s.model.startsWith('weights:') ? { kind: 'vp' } : s.sde,
          hidden: 128,
          layers: 3,
          objective: this.objective,
          train: { batch: 256, lr: 0.002, warmup: 50, seed: s.seed },
        };
        this.trainingSnapshot = null;
        this.training = await this.trainRemote.createTraining(this.gpuLost ? 'cpu' : this.session.backend, this.trainingSpec);
        this.lossHistory = [];
      }
      let training = this.training;
      this.stopTraining = false;
      this.trainingNow = true;
      this.updateCancel();
      try {
        let loss = NaN;
        for (let left = k; left > 0; ) {
          if (this.stopTraining) throw new Cancelled(`training (stopped at step ${this.lossHistory.at(-1)?.step ?? 0}; the network is kept)`);
          const n = Math.min(left, TRAIN_CHUNK);
          let r;
          try {
            r = await training.train(n);
            if (training.backend === 'webgpu') this.trainingSnapshot = await training.checkpoint();
          } catch (e) {
            // lost during the chunk, or earlier while idle (then the call finds its worker
            // gone); a WebGPU worker that trapped is treated alike (a lost device can make the
            // module fail before the browser reports the loss)
            const trapped = !training.alive && !(e instanceof Cancelled) ? new DeviceLost('training', `the WebGPU worker failed (${(e as Error).message})`) : null;
            const lost = e instanceof DeviceLost ? e : (this.trainingDeviceLost ?? trapped);
            if (!lost || training.backend !== 'webgpu') throw e;
            training = await this.trainOnCpuAfter(lost);
            continue; // the chunk again, on the CPU
          }
          left -= n;
          loss = r.loss;
          this.lossHistory.push({ step: r.step, loss: r.loss });
          this.stepsPerSecond = r.steps_per_second;
          $('trainInfo').textContent = `step ${r.step}   loss ${r.loss.toFixed(4)}   ${r.steps_per_second.toFixed(1)} steps/s (${training.backend})`;
          drawLines($('lossPlot'), [{ name: this.objective, color: '#2050c0', xs: this.lossHistory.map((h) => h.step), ys: this.lossHistory.map((h) => h.loss) }], 'training loss');
        }
        return loss;
      } finally {
        this.trainingNow = false;
        this.updateCancel();
      }
    });
  }

  /** The training's WebGPU device was lost: the same run continues on the CPU from the
   * state kept after the last chunk (from step 0 if none was finished), in a new worker. */
  private async trainOnCpuAfter(e: DeviceLost): Promise<Training> {
    this.gpuLost = true;
    const training = await this.trainRemote.createTraining('cpu', this.trainingSpec!);
    const step = this.trainingSnapshot ? await training.restore(this.trainingSnapshot) : 0;
    this.trainingSnapshot = null;
    this.trainingDeviceLost = null;
    this.training = training;
    this.lossHistory = this.lossHistory.filter((h) => h.step <= step);
    this.showNote(`${e.message}; training continues on the CPU from step ${step}, the state kept after its last chunk (nothing trained is lost)`);
    return training;
  }

  /** The sampler's WebGPU device was lost: a CPU session with the same settings and loaded
   * networks replaces it (the run starts again from step 0), as cancel() does. */
  async samplerOnCpuAfter(e: DeviceLost): Promise<void> {
    this.gpuLost = true;
    this.playing = false;
    const settings = this.session.state();
    this.busy = Promise.resolve();
    const { session } = await this.remote.createSession('cpu', null);
    for (const [name, bytes] of this.netBytes) await session.loadWeights(name, bytes);
    await session.setState(settings);
    this.session = session;
    await this.showBackend('cpu');
    this.info = null;
    this.overlayScene = {};
    this.resetFrames();
    await this.refresh();
    this.showNote(`${e.message}; the sampler continues on the CPU with the same settings, from step 0`);
  }

  private cancelTimer: number | null = null;

  /** The cancel button is enabled while a computation has run for more than 0.3 s. */
  updateCancel(): void {
    const btn = $<HTMLButtonElement>('cancelBtn');
    const busy = () => this.remote.inFlight > 0 || this.trainingNow;
    if (!busy()) {
      if (this.cancelTimer !== null) clearTimeout(this.cancelTimer);
      this.cancelTimer = null;
      btn.disabled = true;
    } else if (this.cancelTimer === null && btn.disabled) {
      this.cancelTimer = window.setTimeout(() => {
        this.cancelTimer = null;
        btn.disabled = !busy();
      }, 300);
    }
  }

  /** Stop what the lab is computing. Training stops after its current chunk (the network and
   * its steps are kept). The sampler's worker is terminated, which stops even one long call
   * (an RK45 run, a density map), and a new one gets the same settings and loaded networks;
   * the run starts again from step 0, and the density overlay (the usual long call) is
   * switched off. */
  async cancel(): Promise<void> {
    this.playing = false;
    this.autoTrain = false;
    $<HTMLInputElement>('autoTrain').checked = false;
    if (this.trainingNow) this.stopTraining = true;
    if (this.remote.inFlight === 0) return;
    const settings = this.session.state();
    const backend = this.session.backend as 'webgpu' | 'cpu';
    this.remote.cancel();
    this.busy = Promise.resolve();
    this.overlays.density = false;
    $<HTMLInputElement>('ov-density').checked = false;
    const { session } = await this.remote.createSession(backend, null);
    for (const [name, bytes] of this.netBytes) await session.loadWeights(name, bytes);
    await session.setState(settings);
    this.session = session;
    this.info = null;
    this.overlayScene = {};
    this.resetFrames();
    await this.refresh();
    this.showError('cancelled: the sampler was restarted from step 0 with the same settings (density overlay off)');
  }

  /** Load weight-file bytes as a model of the session and switch to it. */
  async loadWeights(name: string, bytes: Uint8Array): Promise<void> {
    this.playing = false; // a file dropped while playing: the loop stops, the load waits its turn
    await this.serial(async () => {
      const manifest = (await this.session.loadWeights(name, bytes)) as { data: string };
      this.netBytes.set(name, bytes);
      const key = `weights:${name}`;
      if (!this.loadedNets.includes(key)) this.loadedNets.push(key);
      this.netData.set(key, manifest.data);
      this.info = null;
      this.hash.settings = null; // a loaded network cannot live in a link
      this.hash.k = null;
      writeHash(this.hash);
    });
    this.buildControls();
    this.resetFrames();
    await this.refresh();
  }

  resetTraining(note: string): void {
    this.training?.free();
    this.training = null;
    this.lossHistory = [];
    $('trainInfo').textContent = note;
    // the training panel's choice travels in the link (named data sets only; defaults omitted)
    const named = this.namedTrainingSets().includes(this.trainingData);
    this.hash.data = named && this.trainingData !== 'ring8' ? this.trainingData : null;
    this.hash.objective = this.objective !== 'dsm' ? this.objective : null;
    writeHash(this.hash);
  }

  /** The training data sets a link can name: the toy sets and the 2-D mixture presets. */
  namedTrainingSets(): string[] {
    return this.toySets.concat(this.presets.filter((p) => p.mixture.means[0].length === 2).map((p) => p.name));
  }

  private bindTraining(): void {
    const sel = $<HTMLSelectElement>('trainData');
    const options = this.namedTrainingSets().concat(['drawn', 'uploaded']);
    for (const o of options) sel.add(new Option(o === 'drawn' ? 'points drawn on the plot' : o === 'uploaded' ? 'uploaded file' : o, o, false, o === this.trainingData));
    sel.onchange = () => {
      this.trainingData = sel.value;
      this.resetTraining('a new network will be trained on ' + sel.value);
    };
    const obj = $<HTMLSelectElement>('objective');
    for (const o of this.objectives) obj.add(new Option(o, o, false, o === this.objective));
    obj.onchange = () => {
      this.objective = obj.value;
      this.resetTraining(`a new network will be trained with ${obj.value}`);
    };
    $('trainBtn').onclick = () => this.guard(() => this.train(100));
    const auto = $<HTMLInputElement>('autoTrain');
    auto.onchange = () => {
      this.autoTrain = auto.checked;
      if (this.autoTrain) void this.trainLoop();
    };
    $('useTrained').onclick = () =>
      this.guard(async () => {
        if (!this.training) throw new Error('train first: press "train 100 steps"');
        const bytes = await this.trainSerial(() => this.training!.export());
        const name = `${this.trainingData}-${this.objective}-browser`;
        await saveModel(name, bytes).catch(() => undefined);
        await this.refreshSaved();
        await this.loadWeights(name, bytes);
      });
    $('downloadBtn').onclick = () =>
      this.guard(async () => {
        if (!this.training) throw new Error('train first: press "train 100 steps"');
        const bytes = await this.trainSerial(() => this.training!.export());
        const a = document.createElement('a');
        a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
        a.download = `${this.trainingData}-${this.objective}.safetensors`;
        a.click();
      });
    // The shipped toy models (models/toy/<set>-<sde>.safetensors, copied next to the page).
    const shipped = $<HTMLSelectElement>('shipped');
    for (const set of this.toySets) for (const sde of ['vp', 've']) shipped.add(new Option(`${set} (${sde.toUpperCase()})`, `${set}-${sde}`));
    shipped.add(new Option('MNIST U-Net (VE σ = 25): opens the image lab', 'mnist'));
    shipped.onchange = () =>
      this.guard(async () => {
        const name = shipped.value;
        if (!name) return;
        if (name === 'mnist') {
          shipped.value = '';
          await this.openDemo('images');
          return;
        }
        const res = await fetch(`models/toy/${name}.safetensors`);
        if (!res.ok) throw new Error(`models/toy/${name}.safetensors: ${res.status} ${res.statusText} (the page serves models/ from its build)`);
        await this.loadWeights(name, new Uint8Array(await res.arrayBuffer()));
      });
    $<HTMLInputElement>('weightsFile').onchange = (e) =>
      this.guard(async () => {
        const f = (e.target as HTMLInputElement).files?.[0];
        if (f) await this.openFile(f);
      });
    $<HTMLInputElement>('dataFile').onchange = (e) =>
      this.guard(async () => {
        const f = (e.target as HTMLInputElement).files?.[0];
        if (f) await this.openFile(f);
      });
    const saved = $<HTMLSelectElement>('saved');
    saved.onchange = () =>
      this.guard(async () => {
        if (!saved.value) return;
        const bytes = await loadModel(saved.value);
        if (!bytes) throw new Error(`saved model '${saved.value}' is gone from this browser's storage`);
        await this.openWeights(saved.value, bytes);
      });
    void this.refreshSaved();
    // Files dropped anywhere on the page: weight files load, point files become training data.
    document.addEventListener('dragover', (e) => e.preventDefault());
    document.addEventListener('drop', (e) => {
      e.preventDefault();
      const f = e.dataTransfer?.files?.[0];
      if (f) void this.guard(() => this.openFile(f));
    });
  }

  async refreshSaved(): Promise<void> {
    const saved = $<HTMLSelectElement>('saved');
    const names = await listModels().catch(() => [] as string[]);
    saved.innerHTML = '';
    saved.add(new Option(names.length ? '(choose)' : '(none yet)', ''));
    for (const n of names) saved.add(new Option(n, n));
  }

  /** Sample from a mixture of one's own (validated by the core: errors name the field). */
  async loadMixture(spec: unknown, name = 'mixture'): Promise<void> {
    const m = spec as { means?: unknown };
    if (!spec || typeof spec !== 'object' || !Array.isArray(m.means)) {
      throw new Error(`${name}: not a mixture; accepted: {"weights":[K],"means":[[x,y]..],"covs":[..]} (as for --model gmm:FILE)`);
    }
    const d = Array.isArray(m.means[0]) ? (m.means[0] as unknown[]).length : 0;
    if (d !== 2) throw new Error(`${name}: the lab draws 2-D mixtures, this one has d = ${d} (scorelab sample --config takes any dimension)`);
    const s = this.state();
    delete s.weights;
    try {
      await this.setState({ ...s, model: 'mixture', mixture: spec });
    } catch (e) {
      throw new Error(`${name}: ${(e as Error).message}`);
    }
    this.mixture = spec as Record<string, unknown>;
    this.addMixtureData();
  }

  /** "your mixture" as a choice of training data, once one was loaded. */
  private addMixtureData(): void {
    const sel = $<HTMLSelectElement>('trainData');
    if (this.mixture && !Array.from(sel.options).some((o) => o.value === 'mixture')) sel.add(new Option('your mixture (loaded .json)', 'mixture'));
  }

  /** A dropped or chosen file: .safetensors loads as a model, .npy/.csv as training points,
   * .json as a mixture to sample from (and train on). */
  /** 2-D points from a .npy or .csv file's bytes, read by the library's one reader (in the
   * lab's worker, as the CLI reads them): n·2 values, or one error naming the file. */
  parsePoints(name: string, bytes: Uint8Array): Promise<Float32Array> {
    return this.remote.fn<Float32Array>('parsePoints', name, bytes);
  }

  async openFile(f: File): Promise<void> {
    const name = f.name;
    if (/\.json$/i.test(name)) {
      if (f.size > 5 * 1024 * 1024) throw new Error(`${name}: too large (${f.size} bytes); mixture files are at most 5 MiB`);
      let spec: unknown;
      try {
        spec = JSON.parse(await f.text());
      } catch (e) {
        throw new Error(`${name}: not JSON (${(e as Error).message}); a mixture is {"weights":[K],"means":[[x,y]..],"covs":[..]}`);
      }
      await this.loadMixture(spec, name);
      return;
    }
    if (/\.safetensors$/i.test(name)) {
      if (f.size > 64 * 1024 * 1024) throw new Error(`${name}: too large (${f.size} bytes); weight files are at most 64 MiB`);
      await this.openWeights(name.replace(/\.safetensors$/i, ''), new Uint8Array(await f.arrayBuffer()));
      return;
    }
    if (/\.(npy|csv)$/i.test(name)) {
      if (this.trainingNow) throw new Error(`${name}: training is running; stop it (cancel) before changing its data`);
      let points: Float32Array;
      try {
        if (f.size > 50 * 1024 * 1024) throw new Error(`${name}: too large (${f.size} bytes); point files are at most 50 MiB`);
        points = await this.parsePoints(name, new Uint8Array(await f.arrayBuffer()));
      } catch (e) {
        // the refused file is the chosen data now: training says why instead of silently
        // using the set chosen before
        this.uploaded = null;
        this.uploadRefused = (e as Error).message;
        this.trainingData = 'uploaded';
        $<HTMLSelectElement>('trainData').value = 'uploaded';
        this.resetTraining(`refused: ${this.uploadRefused}`);
        throw e;
      }
      this.uploadRefused = null;
      this.uploaded = { name, points };
      this.trainingData = 'uploaded';
      $<HTMLSelectElement>('trainData').value = 'uploaded';
      this.resetTraining(`${name}: ${points.length / 2} points; press "train" to fit a network to them`);
      return;
    }
    throw new Error(`${name}: unsupported file type; accepted: .safetensors (a model), .json (a mixture), .npy or .csv (2-D points)`);
  }

  private async trainLoop(): Promise<void> {
    while (this.autoTrain) {
      try {
        await this.train(50);
      } catch (e) {
        this.autoTrain = false;
        $<HTMLInputElement>('autoTrain').checked = false;
        this.showError((e as Error).message);
      }
      await new Promise((r) => setTimeout(r, 0));
    }
  }

  private bindDrawing(): void {
    const box = $<HTMLInputElement>('drawMode');
    box.onchange = () => {
      this.drawMode = box.checked;
      if (this.drawMode) {
        this.trainingData = 'drawn';
        $<HTMLSelectElement>('trainData').value = 'drawn';
        this.resetTraining('drag on the plot to draw data, then train');
      }
    };
    $('clearDrawn').onclick = () => {
      this.drawn = [];
      this.resetTraining('drawing cleared');
      void this.refresh(false);
    };
    const canvas = $<HTMLCanvasElement>('plot');
    let down = false;
    /** Where the last point went: a drag adds a point every DRAW_SPACING along the stroke. */
    let last: [number, number] | null = null;
    const at = (e: PointerEvent): [number, number] => {
      const r = canvas.getBoundingClientRect();
      return [VIEW.lo + ((e.clientX - r.left) / r.width) * (VIEW.hi - VIEW.lo), VIEW.hi - ((e.clientY - r.top) / r.height) * (VIEW.hi - VIEW.lo)];
    };
    const push = (x: number, y: number) => {
      if (this.drawn.length < 200_000) this.drawn.push(x, y);
    };
    canvas.addEventListener('pointerdown', (e) => {
      if (!this.drawMode) return;
      if (this.trainingNow) {
        this.showError('drawn data: training is running; stop it (cancel) before drawing more points');
        return;
      }
      down = true;
      // one click: one point, where the pointer is
      last = at(e);
      push(...last);
      void this.refresh(false);
    });
    canvas.addEventListener('pointermove', (e) => {
      if (!(this.drawMode && down && last)) return;
      const [x, y] = at(e);
      const d = Math.hypot(x - last[0], y - last[1]);
      if (d < DRAW_SPACING) return;
      // points every DRAW_SPACING along the segment, with a little spread across it, so a
      // stroke becomes a density of even thickness whatever the pointer's speed
      const steps = Math.floor(d / DRAW_SPACING);
      for (let k = 1; k <= steps; k++) {
        const f = (k * DRAW_SPACING) / d;
        const a = Math.random() * 2 * Math.PI;
        const rad = 0.1 * Math.sqrt(Math.random());
        push(last[0] + f * (x - last[0]) + rad * Math.cos(a), last[1] + f * (y - last[1]) + rad * Math.sin(a));
      }
      const f = (steps * DRAW_SPACING) / d;
      last = [last[0] + f * (x - last[0]), last[1] + f * (y - last[1])];
      void this.refresh(false);
    });
    window.addEventListener('pointerup', () => {
      if (down) {
        down = false;
        this.training?.free();
        this.training = null;
        $('trainInfo').textContent = `${this.drawn.length / 2} drawn points`;
        void this.refresh(false);
      }
    });
  }

  private bindDemos(): void {
    for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('#demos button[data-demo]'))) {
      b.onclick = () => this.guard(() => this.openDemo(b.dataset.demo!));
    }
  }

  /** Open a demo (or the lab); `model`: a weight file for the image lab. */
  async openDemo(name: string, model?: ImageModel): Promise<void> {
    this.playing = false;
    this.hash.demo = name === 'lab' ? null : name;
    writeHash(this.hash);
    document.body.dataset.demo = name;
    await openDemo(this, name, model);
    if (name === 'lab') this.buildControls(); // the header names the lab's model again
  }

  /** A weight file goes to the part of the page that can run it: 2-D networks to the lab,
   * 28×28 image networks to the image lab; other dimensions get a message. */
  async openWeights(name: string, bytes: Uint8Array): Promise<void> {
    const info = await this.remote.fn<{ dim: number; architecture: string; manifest: { data: string } }>('inspectWeights', name, bytes);
    if (info.dim === 784) {
      this.showNote(`${name}: an image model (${info.architecture}, trained on ${info.manifest.data}) runs in the image lab`);
      await this.openDemo('images', { name, bytes });
      return;
    }
    if (info.dim !== 2) {
      throw new Error(`${name}: a network on ${info.dim}-dimensional data (${info.manifest.data}); the page draws 2-D models (the lab) and 28×28 images (the image lab); scorelab sample runs any`);
    }
    if (document.body.dataset.demo && document.body.dataset.demo !== 'lab') await this.openDemo('lab');
    await this.loadWeights(name, bytes);
  }

  /** Rebuild the controls from the current settings (one input per field). */
  buildControls(): void {
    const s = this.state();
    if (s.model === 'mixture' && s.mixture) {
      this.mixture = s.mixture; // from a link
      this.addMixtureData();
    }
    const form = $('controls');
    form.innerHTML = '';
    let section = '';
    const row = (label: string, el: HTMLElement) => {
      const l = document.createElement('label');
      l.textContent = label;
      l.appendChild(el);
      // per-control hiding (hash hide=sampler,seed,...): a section hides its parameters
      if (!label.startsWith('  ')) section = label === 'SDE' ? 'sde' : label;
      l.dataset.field = section;
      l.hidden = this.hash.hide.includes(section);
      form.appendChild(l);
    };
    const select = (options: string[], value: string, on: (v: string) => Settings) => {
      const el = document.createElement('select');
      for (const o of options) el.add(new Option(o, o, false, o === value));
      el.onchange = () => this.guard(() => this.setState(on(el.value)));
      return el;
    };
    const number = (field: string, value: number, on: (v: number) => Settings) => {
      const el = document.createElement('input');
      el.type = 'number';
      el.step = 'any';
      el.value = String(value);
      el.onchange = () =>
        this.guard(async () => {
          // an empty or unreadable field is not 0: say so, and show the value in force again
          const text = el.value.trim();
          if (text === '' || !Number.isFinite(Number(text))) {
            el.value = String(value);
            throw new Error(`invalid ${field}: ${text === '' ? 'empty' : `'${text}'`}; accepted: a number (it stays ${value})`);
          }
          await this.setState(on(Number(text)));
        });
      return el;
    };
    const clone = (): Settings => JSON.parse(JSON.stringify(s));
    const models = this.presets.map((p) => p.name).concat(this.mixture ? ['mixture'] : [], this.loadedNets);
    row("model", select(models, s.model, (v) => {
      const c: Settings = { ...clone(), model: v };
      delete c.weights;
      if (v === 'mixture') c.mixture = this.mixture;
      else delete c.mixture;
      return c;
    }));
    row('SDE', select(SDES, s.sde.kind, (v) => ({ ...clone(), sde: { kind: v } })));
    for (const [k, v] of Object.entries(s.sde)) {
      if (k === 'kind') continue;
      row(`  ${k}`, number(`sde.${k}`, v as number, (x) => { const c = clone(); c.sde[k] = x; return c; }));
    }
    row('sampler', select(SAMPLERS, s.sampler.kind, (v) => ({ ...clone(), sampler: { kind: v } })));
    for (const [k, v] of Object.entries(s.sampler)) {
      if (k === 'kind') continue;
      const el = ENUMS[k]
        ? select(ENUMS[k], v as string, (x) => { const c = clone(); c.sampler[k] = x; return c; })
        : number(`sampler.${k}`, v as number, (x) => { const c = clone(); c.sampler[k] = x; return c; });
      row(`  ${k}`, el);
    }
    row('particles', number('n', s.n, (x) => ({ ...clone(), n: x })));
    row('seed', number('seed', s.seed, (x) => ({ ...clone(), seed: x })));
    const dn = document.createElement('input');
    dn.type = 'checkbox';
    dn.checked = s.denoise;
    dn.onchange = () => this.guard(() => this.setState({ ...clone(), denoise: dn.checked }));
    row('denoise', dn);
    this.updateOverlayControls();
    const preset = this.presets.find((p) => p.name === s.model);
    $('about').textContent = preset?.description ?? (s.model.startsWith('weights:') ? `trained network ${s.model.slice(8)}` : '');
  }
}

/** Does this browser run WebAssembly SIMD (the modules are built with +simd128)? A module
 * with one v128 instruction, as wasm-feature-detect checks it. */
function wasmSimd(): boolean {
  try {
    return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
  } catch {
    return false;
  }
}

isolateWithServiceWorker();
const pg = new Playground();
installApi(pg);
pg.start().catch((e) => pg.showError(`failed to start: ${(e as Error).message ?? e}`));
