// The playground page. The 2-D lab: choose a model (a mixture preset, a shipped or trained
// network), SDE and sampler, then play / pause / step / step back while the particles move
// from noise to the data; overlays show the learned and exact score, their error and the
// density; the training panel trains a network on a toy set, a mixture, points drawn with
// the mouse or an uploaded file. The lectures' demos live in demos.ts. `window.scorelab`
// (and postMessage) drive everything (api.ts). The wasm module runs in web workers
// (wasm.ts, worker.ts): one for the lab's sampler, one for its training; "cancel" (or Esc)
// stops a long computation by restarting the sampler's worker. The Playground holds the
// lab's state; each concern is a module behind a small host interface it implements:
// player.ts (play, step, back, frames), view.ts (drawing the lab), overlays.ts,
// controls.ts (the settings panel), training.ts (training runs), training-panel.ts (its
// controls), drawing.ts (points drawn on the plot), files.ts (files chosen or dropped),
// recovery.ts (cancel, a lost WebGPU device); page.ts holds what they share, index.ts
// starts the page.
import { DeviceLost, Remote, type Preset, type Session, type Settings, type StepInfo, type Training } from './wasm';
import { parseHash, writeHash, type HashState } from './state';
import { TrailLayer, type Scene } from './plot';
import { openDemo, type ImageModel } from './demos';
import { keepFitted } from './fit';
import { $ } from './page';
import { bindDrawing } from './drawing';
import { buildControls, type Choices } from './controls';
import { refresh } from './view';
import { cancel, samplerOnCpuAfter, updateCancel } from './recovery';
import { bindPlayer, resetFrames, run, step, stepBack } from './player';
import { resetTraining, train, trainingSource, trainLoop, trainSerial } from './training';
import { bindOverlays, updateOverlayControls, type Overlays } from './overlays';
import { addMixtureData, loadMixture, openFile, parsePoints } from './files';
import { bindTrainingPanel, refreshSaved } from './training-panel';
import { bindDownloads } from './downloads';
import { bindFrontier } from './frontier';
import { bindIntro } from './intro';
import { showBackend, wasmSimd } from './header';




export class Playground {
  /** The worker of the lab's sampling session (overlays, density maps, RK45 runs). */
  remote = new Remote('lab');
  /** The worker of the lab's training, apart so that cancelling sampling keeps it. */
  trainRemote = new Remote('training');
  session!: Session;
  presets: Preset[] = [];
  /** The choices of each setting (the library's registries, wasm `choices()`). */
  choices: Choices = { sde: [], sampler: [], predictor: [], corrector: [], solver: [], schedule: [], objective: [] };
  toySets: string[] = [];
  /** The named objectives of the training panel (the library's objective registry). */
  objectives: string[] = [];
  hash: HashState = { backend: 'auto', embed: false, hide: [], demo: null, k: null, settings: null, data: null, objective: null, conditional: false };
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
  overlayScene: Partial<Scene> = {};
  busy: Promise<unknown> = Promise.resolve();

  training: Training | null = null;
  /** The spec the training was created with, and its last state while it trains on WebGPU
   * (taken after every chunk): a lost device continues from it on the CPU. */
  trainingSpec: Record<string, unknown> | null = null;
  trainingSnapshot: Uint8Array | null = null;
  /** A WebGPU device was lost in this page: new work goes to the CPU. */
  gpuLost = false;
  trainingDeviceLost: DeviceLost | null = null;
  trainBusy: Promise<unknown> = Promise.resolve();
  /** Set by cancel(): the running train(k) stops after its current chunk. */
  stopTraining = false;
  /** A train(k) call is running (drawing and changing the data wait for it). */
  trainingNow = false;
  trainingData = 'ring8';
  objective = 'dsm';
  /** Train a class-conditional network (the data's classes), and the class a stroke draws. */
  conditional = false;
  drawClass = 0;
  lossHistory: { step: number; loss: number }[] = [];
  stepsPerSecond = 0;
  autoTrain = false;
  drawMode = false;
  drawn: number[] = [];
  /** The drawn points' classes, one per point. */
  drawnLabels: number[] = [];
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
    this.choices = await this.remote.fn<Choices>('choices');
    this.objectives = this.choices.objective.map((c) => c.name);
    // a bad key never discards the good ones (`#backend=cpu&k=abc` stays on the CPU)
    const parsed = parseHash(location.hash, { data: this.namedTrainingSets(), objective: this.objectives });
    this.hash = parsed.state;
    const notes: string[] = [];
    if (parsed.errors.length) notes.push(`${parsed.errors.join('; ')} (ignored; the rest of the link is used)`);
    if (this.hash.data) this.trainingData = this.hash.data;
    if (this.hash.objective) this.objective = this.hash.objective;
    this.conditional = this.hash.conditional;
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
    bindPlayer(this);
    bindOverlays(this);
    bindTrainingPanel(this);
    bindDrawing(this);
    bindDownloads(this);
    bindFrontier(this);
    bindIntro(this.hash.embed);
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

  /** Bumped by every play (player.ts). */
  loopGeneration = 0;
  /** Player loops running now (for the tests: never more than one). */
  loopsRunning = 0;

  resetFrames(): void {
    resetFrames(this);
  }

  step(k: number): Promise<StepInfo | null> {
    return step(this, k);
  }

  /** Show the previous recorded frame (the sampler itself is not rewound). */
  stepBack(k = 1): Promise<StepInfo | null> {
    return stepBack(this, k);
  }

  run(): Promise<StepInfo | null> {
    return run(this);
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

  /** The trajectories' layer (view.ts brings it up to the frame shown). */
  readonly trails = new TrailLayer();

  /** Is the lab's model a network (a loaded or trained weight file), not an exact mixture? */
  isNetwork(): boolean {
    return this.state().model.startsWith('weights:');
  }

  /** "learned score" and "score error" only mean something for a network (overlays.ts). */
  updateOverlayControls(): void {
    updateOverlayControls(this);
  }

  /** Read the particles (unless `read` is false), record them, and draw the lab (view.ts). */
  refresh(read = true): Promise<void> {
    return refresh(this, read);
  }

  showError(msg: string): void {
    const box = $('error');
    box.textContent = msg;
    box.hidden = false;
  }

  /** The header's backend (header.ts). */
  showBackend(backend: string): Promise<void> {
    return showBackend(this, backend);
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

  async guard(f: () => Promise<unknown>): Promise<void> {
    try {
      this.clearError();
      await f();
    } catch (e) {
      this.showError((e as Error).message ?? String(e));
    }
  }

  loadedNets: string[] = [];
  netData = new Map<string, string>();
  netClasses = new Map<string, number>();
  /** The loaded networks' bytes, to load them again into a restarted worker. */
  netBytes = new Map<string, Uint8Array>();

  /** The mixture means the plot marks (downloads.ts). */
  meansShown(): number[][] {
    return this.referencePreset()?.mixture.means ?? [];
  }

  /** The preset the current particles should match (a network's training preset). */
  referencePreset(): Preset | undefined {
    const s = this.state();
    if (s.model === 'mixture' && s.mixture) return { name: 'mixture', description: s.mixture.description ?? 'your mixture (model: mixture)', mixture: s.mixture };
    const name = s.model.startsWith('weights:') ? this.netData.get(s.model) : s.model;
    return this.presets.find((p) => p.name === name);
  }

  /** The `data` / `points` of a training spec for the chosen training data (training.ts). */
  trainingSource(): { data: string; points?: number[] } {
    return trainingSource(this);
  }

  /** Run training work one call at a time, apart from the sampler's queue (training.ts). */
  trainSerial<T>(f: () => Promise<T>): Promise<T> {
    return trainSerial(this, f);
  }

  /** Train k steps of the page's network (training.ts). */
  train(k: number): Promise<number> {
    return train(this, k);
  }

  cancelTimer: number | null = null;

  /** The sampler's WebGPU device was lost: it moves to the CPU (recovery.ts). */
  samplerOnCpuAfter(e: DeviceLost): Promise<void> {
    return samplerOnCpuAfter(this, e);
  }

  /** The cancel button is enabled while a computation has run for more than 0.3 s. */
  updateCancel(): void {
    updateCancel(this);
  }

  /** Stop what the lab is computing (recovery.ts). */
  cancel(): Promise<void> {
    return cancel(this);
  }

  /** Load weight-file bytes as a model of the session and switch to it. */
  async loadWeights(name: string, bytes: Uint8Array): Promise<void> {
    this.playing = false; // a file dropped while playing: the loop stops, the load waits its turn
    await this.serial(async () => {
      const manifest = (await this.session.loadWeights(name, bytes)) as { data: string; architecture?: { classes?: number | null } };
      this.netBytes.set(name, bytes);
      const key = `weights:${name}`;
      if (!this.loadedNets.includes(key)) this.loadedNets.push(key);
      this.netData.set(key, manifest.data);
      this.netClasses.set(key, manifest.architecture?.classes ?? 0);
      this.info = null;
      this.hash.settings = null; // a loaded network cannot live in a link
      this.hash.k = null;
      writeHash(this.hash);
    });
    this.buildControls();
    this.resetFrames();
    await this.refresh();
  }

  /** A new network will be trained (training.ts). */
  resetTraining(note: string): void {
    resetTraining(this, note);
  }

  /** Train while "auto-train" is ticked (training.ts). */
  trainLoop(): Promise<void> {
    return trainLoop(this);
  }

  /** The training data sets a link can name: the toy sets and the 2-D mixture presets. */
  namedTrainingSets(): string[] {
    return this.toySets.concat(this.presets.filter((p) => p.mixture.means[0].length === 2).map((p) => p.name));
  }

  /** Sample from a mixture of one's own (files.ts). */
  loadMixture(spec: unknown, name = 'mixture'): Promise<void> {
    return loadMixture(this, spec, name);
  }

  /** "your mixture" as a choice of training data, once one was loaded (files.ts). */
  addMixtureData(): void {
    addMixtureData(this);
  }

  /** 2-D points from a .npy or .csv file's bytes, by the library's reader (files.ts). */
  parsePoints(name: string, bytes: Uint8Array): Promise<Float32Array> {
    return parsePoints(this, name, bytes);
  }

  /** A dropped or chosen file, routed by its kind (files.ts). */
  openFile(f: File): Promise<void> {
    return openFile(this, f);
  }

  /** The models saved in this browser, in the training panel's menu (training-panel.ts). */
  refreshSaved(): Promise<void> {
    return refreshSaved();
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

  /** Rebuild the controls from the current settings (controls.ts). */
  buildControls(): void {
    buildControls(this);
  }
}
