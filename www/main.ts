// The playground page: choose a preset, SDE and sampler, then play / pause / step while the
// particles move from noise to the mixture. `window.scorelab` (and postMessage) drive it.
import { createSession, load, type Preset, type Session, type Settings, type StepInfo, type Training } from './wasm';
import { parseHash, writeHash, type HashState } from './state';
import { drawParticles } from './plot';
import { installApi } from './api';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const ENUMS: Record<string, string[]> = {
  predictor: ['em', 'reverse-diffusion', 'ancestral', 'none'],
  corrector: ['langevin', 'none'],
  solver: ['rk45', 'rk4', 'heun', 'euler'],
};
const SDES = ['ve', 've-notebook', 'vp', 'subvp'];
const SAMPLERS = ['em', 'pc', 'langevin', 'ald', 'ode'];

export class Playground {
  session!: Session;
  presets: Preset[] = [];
  toySets: string[] = [];
  hash: HashState = { backend: 'auto', embed: false, settings: null };
  playing = false;
  stepsPerFrame = 5;
  info: StepInfo | null = null;
  particles: Float32Array<ArrayBufferLike> = new Float32Array();
  private busy: Promise<unknown> = Promise.resolve();

  training: Training | null = null;
  trainingData = 'ring8';

  async start(): Promise<void> {
    const m = await load();
    this.presets = m.presets() as Preset[];
    this.toySets = (m.toySets() as { name: string }[]).map((t) => t.name);
    try {
      this.hash = parseHash(location.hash);
    } catch (e) {
      this.showError((e as Error).message + ' (ignored; using defaults)');
    }
    document.body.classList.toggle('embed', this.hash.embed);
    let created;
    try {
      created = await createSession(this.hash.backend, this.hash.settings);
    } catch (e) {
      this.showError(`${(e as Error).message} (the link's settings were ignored)`);
      created = await createSession(this.hash.backend, null);
    }
    this.session = created.session;
    if (created.note) this.showError(created.note);
    $('backend').textContent = this.session.backend === 'webgpu' ? 'WebGPU' : 'CPU (wasm)';
    document.body.dataset.backend = this.session.backend;
    this.buildControls();
    await this.refresh();
    this.bindPlayer();
    this.bindTraining();
    document.body.dataset.ready = '1';
  }

  state(): Settings {
    return this.session.state();
  }

  /** Validate and apply settings; on error show it and keep the old ones. */
  async setState(s: Settings): Promise<void> {
    await this.serial(async () => {
      this.playing = false;
      this.session.setState(s);
      this.info = null;
      this.hash.settings = this.state();
      writeHash(this.hash);
    });
    this.buildControls();
    await this.refresh();
  }

  /** Run queued work one at a time (the session refuses overlapping commands). */
  serial<T>(f: () => Promise<T>): Promise<T> {
    const next = this.busy.then(f, f);
    this.busy = next.catch(() => undefined);
    return next;
  }

  async step(k: number): Promise<StepInfo | null> {
    const info = await this.serial(() => this.session.step(k) as Promise<StepInfo | null>);
    if (info) this.info = info;
    await this.refresh();
    return this.info;
  }

  async run(): Promise<StepInfo | null> {
    this.playing = false;
    const info = await this.serial(() => this.session.run() as Promise<StepInfo | null>);
    if (info) this.info = info;
    await this.refresh();
    return this.info;
  }

  async readParticles(): Promise<Float32Array> {
    return this.serial(() => this.session.particles() as Promise<Float32Array>);
  }

  async refresh(): Promise<void> {
    this.particles = await this.readParticles();
    const s = this.state();
    const preset = this.referencePreset();
    drawParticles($('plot'), this.particles, this.session.dim(), preset?.mixture.means ?? [], { lo: -10, hi: 10 });
    const i = this.info;
    $('info').textContent = i
      ? `step ${i.index}${i.total ? ' / ' + i.total : ''}   t = ${i.t.toFixed(4)}   NFE = ${i.nfe}   step size = ${i.step_size.toExponential(2)}` +
        (i.accepted === null ? '' : i.accepted ? '   accepted' : '   rejected') +
        (i.level === null ? '' : `   level ${i.level + 1}`) +
        (i.denoise ? '   (denoising step)' : '') +
        (i.done ? '   done' : '')
      : 'ready: press play or step';
    if (i?.done && preset) {
      const r = this.session.report(this.particles, 20);
      const fmt = (v: number[]) => v.map((w) => w.toFixed(3)).join(' ');
      $('report').textContent =
        (r.mode_weights.length <= 10 ? `mode weights ${fmt(r.mode_weights)} (mixture ${fmt(preset?.mixture.weights ?? [])})   ` : '') +
        `sliced W2 ${r.sw.toFixed(3)} (exact vs exact: ${r.sw_median.toFixed(3)} median)`;
    } else {
      $('report').textContent = '';
    }
    $('play').textContent = this.playing ? 'pause' : 'play';
  }

  showError(msg: string): void {
    const box = $('error');
    box.textContent = msg;
    box.hidden = false;
  }

  clearError(): void {
    $('error').hidden = true;
  }

  private bindPlayer(): void {
    $('play').onclick = () => {
      this.playing = !this.playing;
      if (this.playing) this.loop();
      else void this.refresh();
    };
    $('stepbtn').onclick = () => this.guard(() => this.step(1));
    $('reset').onclick = () => this.guard(() => this.setState(this.state()));
    $<HTMLSelectElement>('speed').onchange = (e) => {
      this.stepsPerFrame = Number((e.target as HTMLSelectElement).value);
    };
  }

  private async loop(): Promise<void> {
    while (this.playing) {
      try {
        const info = await this.step(this.stepsPerFrame);
        if (!info || info.done) this.playing = false;
      } catch (e) {
        this.playing = false;
        this.showError((e as Error).message);
      }
      await new Promise((r) => requestAnimationFrame(() => r(null)));
    }
    await this.refresh();
  }

  private async guard(f: () => Promise<unknown>): Promise<void> {
    try {
      this.clearError();
      await f();
    } catch (e) {
      this.showError((e as Error).message ?? String(e));
    }
  }

  loadedNets: string[] = [];
  netData = new Map<string, string>();

  /** The preset the current particles should match (a network's training preset). */
  referencePreset(): Preset | undefined {
    const s = this.state();
    const name = s.model.startsWith('weights:') ? this.netData.get(s.model) : s.model;
    return this.presets.find((p) => p.name === name);
  }

  /** Train k steps of the page's network (created on first use from the training panel). */
  async train(k: number): Promise<number> {
    return this.serial(async () => {
      if (!this.training) {
        const m = await load();
        const s = this.state();
        this.training = await m.Training.create(this.session.backend, {
          data: this.trainingData,
          sde: s.model.startsWith('weights:') ? { kind: 'vp' } : s.sde,
          hidden: 128,
          layers: 3,
          train: { batch: 256, lr: 0.002, warmup: 50, seed: s.seed },
        });
      }
      const r = (await this.training.train(k)) as { loss: number; step: number; steps_per_second: number };
      $('trainInfo').textContent = `step ${r.step}   loss ${r.loss.toFixed(4)}   ${r.steps_per_second.toFixed(1)} steps/s`;
      return r.loss;
    });
  }

  /** Load weight-file bytes as a model of the session and switch to it. */
  async loadWeights(name: string, bytes: Uint8Array): Promise<void> {
    await this.serial(async () => {
      const manifest = this.session.loadWeights(name, bytes) as { data: string };
      const key = `weights:${name}`;
      if (!this.loadedNets.includes(key)) this.loadedNets.push(key);
      this.netData.set(key, manifest.data);
      this.info = null;
      this.hash.settings = null; // a loaded network cannot live in a link
      writeHash(this.hash);
    });
    this.buildControls();
    await this.refresh();
  }

  private bindTraining(): void {
    const sel = $<HTMLSelectElement>('trainData');
    for (const o of this.toySets.concat(this.presets.map((p) => p.name))) sel.add(new Option(o, o, false, o === this.trainingData));
    sel.onchange = () => {
      this.trainingData = sel.value;
      this.training = null;
      $('trainInfo').textContent = 'a new network will be trained on ' + sel.value;
    };
    $('trainBtn').onclick = () => this.guard(() => this.train(100));
    $('useTrained').onclick = () =>
      this.guard(async () => {
        if (!this.training) throw new Error('train first: press "train 100 steps"');
        const bytes = (await this.serial(() => this.training!.export())) as Uint8Array;
        await this.loadWeights(`${this.trainingData}-browser`, bytes);
      });
    $('downloadBtn').onclick = () =>
      this.guard(async () => {
        if (!this.training) throw new Error('train first: press "train 100 steps"');
        const bytes = (await this.serial(() => this.training!.export())) as Uint8Array;
        const a = document.createElement('a');
        a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
        a.download = `${this.trainingData}.safetensors`;
        a.click();
      });
    // The shipped toy models (models/toy/<set>-<sde>.safetensors, copied next to the page).
    const shipped = $<HTMLSelectElement>('shipped');
    for (const set of this.toySets) for (const sde of ['vp', 've']) shipped.add(new Option(`${set} (${sde.toUpperCase()})`, `${set}-${sde}`));
    shipped.onchange = () =>
      this.guard(async () => {
        const name = shipped.value;
        if (!name) return;
        const res = await fetch(`models/toy/${name}.safetensors`);
        if (!res.ok) throw new Error(`models/toy/${name}.safetensors: ${res.status} ${res.statusText} (the page serves models/ from its build)`);
        await this.loadWeights(name, new Uint8Array(await res.arrayBuffer()));
      });
    $<HTMLInputElement>('weightsFile').onchange = (e) =>
      this.guard(async () => {
        const f = (e.target as HTMLInputElement).files?.[0];
        if (!f) return;
        if (f.size > 64 * 1024 * 1024) throw new Error(`${f.name}: too large (${f.size} bytes); weight files are at most 64 MiB`);
        await this.loadWeights(f.name.replace(/\.safetensors$/, ''), new Uint8Array(await f.arrayBuffer()));
      });
  }

  /** Rebuild the controls from the current settings (one input per field). */
  buildControls(): void {
    const s = this.state();
    const form = $('controls');
    form.innerHTML = '';
    const row = (label: string, el: HTMLElement) => {
      const l = document.createElement('label');
      l.textContent = label;
      l.appendChild(el);
      form.appendChild(l);
    };
    const select = (options: string[], value: string, on: (v: string) => Settings) => {
      const el = document.createElement('select');
      for (const o of options) el.add(new Option(o, o, false, o === value));
      el.onchange = () => this.guard(() => this.setState(on(el.value)));
      return el;
    };
    const number = (value: number, on: (v: number) => Settings) => {
      const el = document.createElement('input');
      el.type = 'number';
      el.step = 'any';
      el.value = String(value);
      el.onchange = () => this.guard(() => this.setState(on(Number(el.value))));
      return el;
    };
    const clone = (): Settings => JSON.parse(JSON.stringify(s));
    const models = this.presets.map((p) => p.name).concat(this.loadedNets);
    row('model', select(models, s.model, (v) => ({ ...clone(), model: v })));
    row('SDE', select(SDES, s.sde.kind, (v) => ({ ...clone(), sde: { kind: v } })));
    for (const [k, v] of Object.entries(s.sde)) {
      if (k === 'kind') continue;
      row(`  ${k}`, number(v as number, (x) => { const c = clone(); c.sde[k] = x; return c; }));
    }
    row('sampler', select(SAMPLERS, s.sampler.kind, (v) => ({ ...clone(), sampler: { kind: v } })));
    for (const [k, v] of Object.entries(s.sampler)) {
      if (k === 'kind') continue;
      const el = ENUMS[k]
        ? select(ENUMS[k], v as string, (x) => { const c = clone(); c.sampler[k] = x; return c; })
        : number(v as number, (x) => { const c = clone(); c.sampler[k] = x; return c; });
      row(`  ${k}`, el);
    }
    row('particles', number(s.n, (x) => ({ ...clone(), n: x })));
    row('seed', number(s.seed, (x) => ({ ...clone(), seed: x })));
    const dn = document.createElement('input');
    dn.type = 'checkbox';
    dn.checked = s.denoise;
    dn.onchange = () => this.guard(() => this.setState({ ...clone(), denoise: dn.checked }));
    row('denoise', dn);
    const preset = this.presets.find((p) => p.name === s.model);
    $('about').textContent = preset?.description ?? (s.model.startsWith('weights:') ? `trained network ${s.model.slice(8)}` : '');
  }
}

const pg = new Playground();
installApi(pg);
pg.start().catch((e) => pg.showError(`failed to start: ${(e as Error).message ?? e}`));
