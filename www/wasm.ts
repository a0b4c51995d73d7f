// The page's side of the wasm module. The module itself runs in a web worker (worker.ts),
// so sampling, training, density maps and likelihoods never freeze the page. A `Remote` is
// one worker; `RemoteSession` and `RemoteTraining` mirror the wasm Session and Training
// with every method asynchronous. `Remote.cancel()` terminates the worker: whatever it was
// computing stops at once, its pending calls reject with a "cancelled" error, and its
// objects are gone (the owner re-creates what it needs; a new worker starts on the next
// call). Each part of the page that must be cancellable on its own owns a Remote: the
// lab's sampler, the lab's training, each demo.

export type Settings = Record<string, any>;

export interface StepInfo {
  index: number;
  total: number | null;
  t: number;
  nfe: number;
  step_size: number;
  accepted: boolean | null;
  level: number | null;
  denoise: boolean;
  done: boolean;
}

/** "step 5 / 100": the sampler's own steps; a final denoising step is counted apart. */
export function stepText(i: StepInfo, denoising: boolean): string {
  const main = i.total !== null ? i.total - (denoising ? 1 : 0) : null;
  if (i.denoise) return `step ${main ?? i.index} / ${main ?? i.index} + denoising step`;
  return `step ${i.index}${main !== null ? ' / ' + main : ''}`;
}

/** The CPU engine a worker runs (its free function `cpuEngine`): its threads, and why only
 * one where so (empty when it runs on every core); its module's SIMD: relaxed SIMD (fused
 * multiply-add) where the browser has it, plain wasm SIMD otherwise. */
export interface CpuEngine {
  threads: number;
  why: string;
  simd: 'relaxed' | 'simd128';
}

/** Does this browser run relaxed SIMD (Chrome/Edge 114+, Firefox 146+; not Safari)? A
 * module whose one function is an `f32x4.relaxed_madd` must validate. The workers load
 * the CPU module's relaxed-SIMD build where it does (worker.ts). */
export function relaxedSimd(): boolean {
  const probe = 'AGFzbQEAAAABBQFgAAF7AwIBAAo9ATsA/QwAAAAAAAAAAAAAAAAAAAAA/QwAAAAAAAAAAAAAAAAAAAAA/QwAAAAAAAAAAAAAAAAAAAAA/YUCCw==';
  try {
    return WebAssembly.validate(Uint8Array.from(atob(probe), (c) => c.charCodeAt(0)));
  } catch {
    return false;
  }
}

/** The SIMD a worker's CPU module uses, told through its name (decided here, on the page's
 * thread, once). */
const WORKER_SIMD = relaxedSimd() ? '' : ':simd128';

export interface Preset {
  name: string;
  description: string;
  mixture: { weights: number[]; means: number[][]; covs: unknown[] };
}

export interface Report {
  mode_weights: number[];
  sw: number;
  sw_median: number;
  sw_q99: number;
  /** A guided run (`app::sampling::compare`): the class, w, the share of samples in the
   * class's mode, and at w = 0 the samples against the class's component. */
  guided: { class: number; scale: number; share: number; component: { sw: number; sw_median: number; sw_q99: number } | null } | null;
}

/**
 * The WebGPU adapter the browser offers (null: none). `fallback` marks a software adapter
 * (SwiftShader in Chromium without a GPU, WARP, llvmpipe/lavapipe): 25-90x slower than the
 * page's CPU path on our models, so `auto` does not choose it.
 */
export async function probeWebGpu(): Promise<{ fallback: boolean; name: string } | null> {
  const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<any> } }).gpu;
  if (!gpu) return null;
  try {
    const a = await gpu.requestAdapter();
    if (!a) return null;
    const info = a.info ?? {};
    const name = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'an unnamed adapter';
    const fallback = Boolean(info.isFallbackAdapter ?? a.isFallbackAdapter) || /swiftshader|llvmpipe|lavapipe|warp|software/i.test(name);
    return { fallback, name };
  } catch {
    return null;
  }
}

/** Both backends timed on one workload (sampler steps per second after a warm-up). */
export interface BackendMeasure {
  workload: string;
  cpu: number;
  /** null: no WebGPU session could be made. */
  webgpu: number | null;
  adapter: string | null;
  fallback: boolean;
  chosen: 'webgpu' | 'cpu';
}

/** The workload `auto` measures for the 2-D lab: the default sampler on a toy mixture. */
export const TOY_WORKLOAD: Settings = { model: 'ring8', sde: { kind: 'vp' }, sampler: { kind: 'pc', steps: 500 }, n: 1000, seed: 0 };

/**
 * Time `steps` sampler steps of `settings` (after `warmup` steps, which compile WebGPU's
 * kernels) on the CPU and on WebGPU in `remote`'s worker; `weights` is loaded first when
 * given (an image model). The faster wins; a fallback adapter never does.
 */
export async function measureBackends(remote: Remote, workload: string, settings: Settings, steps: number, warmup: number, weights?: { name: string; bytes: Uint8Array }): Promise<BackendMeasure> {
  const adapter = await probeWebGpu();
  const rate = async (backend: 'cpu' | 'webgpu') => {
    const g = remote.generation;
    const r = (await remote.request({ op: 'new', cls: 'Session', args: [backend, weights ? {} : settings] })) as { handle: number; backend: string };
    const s = new RemoteSession(remote, r.handle, r.backend, g);
    try {
      await s.sync();
      if (weights) {
        await s.loadWeights(weights.name, weights.bytes);
        await s.setState({ ...s.state(), ...settings });
      }
      await s.step(warmup);
      await s.particles(); // the readback waits for the GPU's queue
      const t0 = performance.now();
      await s.step(steps);
      await s.particles();
      return (steps * 1000) / (performance.now() - t0);
    } finally {
      s.free();
    }
  };
  const cpu = await rate('cpu');
  let webgpu: number | null = null;
  if (adapter) {
    try {
      webgpu = await rate('webgpu');
    } catch (e) {
      if (e instanceof Cancelled) throw e;
    }
  }
  const chosen = webgpu !== null && !adapter?.fallback && webgpu > cpu ? 'webgpu' : 'cpu';
  return { workload, cpu, webgpu, adapter: adapter?.name ?? null, fallback: adapter?.fallback ?? false, chosen };
}

/** One line for the page: both figures and the choice. */
export function measureText(m: BackendMeasure): string {
  const gpu = m.webgpu === null ? 'WebGPU unavailable' : `WebGPU ${m.webgpu.toFixed(1)}`;
  return `${m.workload}: CPU ${m.cpu.toFixed(1)} vs ${gpu} steps/s${m.fallback ? ' (a software adapter: never chosen)' : ''}, using ${m.chosen === 'webgpu' ? 'WebGPU' : 'the CPU'}`;
}

type Pending = { resolve: (v: any) => void; reject: (e: Error) => void };

/** Thrown into every pending call of a cancelled worker. */
export class Cancelled extends Error {
  constructor(what: string) {
    super(`${what}: cancelled`);
    this.name = 'Cancelled';
  }
}

/** Thrown into every pending call of a worker whose WebGPU device was lost. */
export class DeviceLost extends Error {
  constructor(what: string, why: string) {
    super(`${what}: ${why}`);
    this.name = 'DeviceLost';
  }
}

export class Remote {
  private worker: Worker | null = null;
  private pending = new Map<number, Pending>();
  private nextId = 1;
  /** Bumped by cancel(); objects of an older generation are dead. */
  generation = 0;
  /** The worker's wasm memory after its last answer (bytes; wasm32 stops at 4 GiB). */
  memoryBytes = 0;
  /** Called with the number of calls in flight whenever it changes. */
  onBusy: ((inFlight: number) => void) | null = null;
  /** Called when the worker's WebGPU device was lost (after its pending calls failed). */
  onDeviceLost: ((e: DeviceLost) => void) | null = null;

  constructor(readonly label: string) {}

  get inFlight(): number {
    return this.pending.size;
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: `scorelab-${this.label}${WORKER_SIMD}` });
    w.onmessage = (ev: MessageEvent<{ id: number; ok: boolean; value?: unknown; error?: string }>) => {
      if (ev.data.id === -2) {
        // the worker's WebGPU device is gone: so is everything it held on it; the owner
        // decides what to rebuild (on the CPU)
        const e = new DeviceLost(this.label, ev.data.error ?? 'the WebGPU device was lost');
        this.fail(e);
        this.onDeviceLost?.(e);
        return;
      }
      if (ev.data.id === -3) {
        console.error(`${this.label} worker: ${ev.data.error}`);
        return;
      }
      if (ev.data.id === -1) {
        // the module trapped (a panic): the worker is unusable, everything pending fails
        this.fail(new Error(`${this.label} worker failed: ${ev.data.error}`));
        return;
      }
      this.memoryBytes = (ev.data as { memory?: number }).memory ?? this.memoryBytes;
      const p = this.pending.get(ev.data.id);
      if (!p) return;
      this.pending.delete(ev.data.id);
      this.onBusy?.(this.pending.size);
      if (ev.data.ok) p.resolve(ev.data.value);
      else p.reject(new Error(ev.data.error));
    };
    w.onerror = (ev) => {
      ev.preventDefault();
      this.fail(new Error(`${this.label} worker failed: ${ev.message || 'could not start (is the page served over http?)'}`));
    };
    this.worker = w;
    return w;
  }

  private fail(e: Error): void {
    this.worker?.terminate();
    this.worker = null;
    this.generation++;
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.onBusy?.(0);
    for (const p of pending) p.reject(e);
  }

  /** Stop everything this worker is doing; its objects are gone. */
  cancel(): void {
    this.fail(new Cancelled(this.label));
  }

  request(msg: Record<string, unknown>, generation = this.generation): Promise<any> {
    if (generation !== this.generation) return Promise.reject(new Cancelled(`${this.label} (an object of a cancelled worker)`));
    const w = this.ensure();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.onBusy?.(this.pending.size);
      w.postMessage({ id, ...msg });
    });
  }

  /** Destroy the worker's WebGPU devices, as a GPU reset would (for tests); resolves to the
   * loss as reported. */
  loseDevice(): Promise<string> {
    // the worker reports the loss before it answers, which ends it: the loss is the answer
    return this.request({ op: 'loseDevice' }).then(
      (n: number) => `${n} devices destroyed, no loss reported`,
      (e: Error) => {
        if (e instanceof DeviceLost) return e.message;
        throw e;
      },
    );
  }

  /** One of the module's free functions (presets, toySets, normalizeSettings, ...). */
  fn<T = any>(name: string, ...args: unknown[]): Promise<T> {
    return this.request({ op: 'fn', name, args });
  }

  /** A session on the asked backend; 'auto' tries WebGPU, then the CPU. */
  /** The measurement behind the last `auto` choice (null: none was needed). */
  measured: BackendMeasure | null = null;

  async createSession(backend: 'auto' | 'webgpu' | 'cpu', settings: Settings | null): Promise<{ session: RemoteSession; note: string }> {
    const make = async (b: string) => {
      const g = this.generation;
      const r = (await this.request({ op: 'new', cls: 'Session', args: [b, settings] })) as { handle: number; backend: string };
      const s = new RemoteSession(this, r.handle, r.backend, g);
      await s.sync();
      return s;
    };
    if (backend === 'cpu') return { session: await make('cpu'), note: '' };
    if (backend === 'auto') {
      const adapter = await probeWebGpu();
      if (adapter?.fallback) {
        return { session: await make('cpu'), note: `WebGPU here is a software adapter (${adapter.name}), many times slower than the CPU path: using the CPU backend (#backend=webgpu uses WebGPU anyway)` };
      }
      if (!adapter) return { session: await make('cpu'), note: '' };
      // a hardware adapter: the faster backend for the lab's workload, by measurement
      try {
        this.measured = await measureBackends(this, 'toy sampler', TOY_WORKLOAD, 20, 3);
        return { session: await make(this.measured.chosen), note: `backend chosen by measurement: ${measureText(this.measured)} (#backend= overrides)` };
      } catch (e) {
        if (e instanceof Cancelled) throw e;
        // a failed measurement falls through to WebGPU with the CPU as its fallback
      }
    }
    try {
      return { session: await make(backend), note: '' };
    } catch (e) {
      const msg = (e as Error).message ?? String(e);
      if (e instanceof Cancelled || (!msg.includes('WebGPU') && !msg.includes('backend'))) throw e;
      return { session: await make('cpu'), note: `WebGPU unavailable (${msg}); using the CPU backend` };
    }
  }

  async createTraining(backend: string, spec: Record<string, unknown>): Promise<RemoteTraining> {
    const g = this.generation;
    const r = (await this.request({ op: 'new', cls: 'Training', args: [backend, spec] })) as { handle: number; backend: string };
    return new RemoteTraining(this, r.handle, r.backend, g);
  }
}

class RemoteObject {
  constructor(
    readonly remote: Remote,
    readonly handle: number,
    readonly backend: string,
    readonly generation: number,
  ) {}

  /** False once its worker was cancelled. */
  get alive(): boolean {
    return this.generation === this.remote.generation;
  }

  protected call<T = any>(method: string, ...args: unknown[]): Promise<T> {
    return this.remote.request({ op: 'call', handle: this.handle, method, args }, this.generation);
  }

  free(): void {
    if (this.alive) void this.remote.request({ op: 'free', handle: this.handle }, this.generation).catch(() => undefined);
  }
}

/** A sampling session in a worker. `state()` and `dim()` are kept here (refreshed after every
 * call that can change them), so the page can read them without waiting. */
export class RemoteSession extends RemoteObject {
  private settings: Settings = {};
  private dimension = 0;

  async sync(): Promise<void> {
    this.settings = await this.call('state');
    this.dimension = await this.call('dim');
  }

  state(): Settings {
    return JSON.parse(JSON.stringify(this.settings));
  }

  dim(): number {
    return this.dimension;
  }

  async setState(settings: Settings): Promise<void> {
    await this.call('setState', settings);
    await this.sync();
  }

  /** Load weight-file bytes as a model of this session; returns the manifest. */
  async loadWeights(name: string, bytes: Uint8Array): Promise<any> {
    const manifest = await this.call('loadWeights', name, bytes);
    await this.sync();
    return manifest;
  }

  reset(): Promise<void> {
    return this.call('reset');
  }

  inpaint(known: Float32Array, mask: Float32Array): Promise<void> {
    return this.call('inpaint', known, mask);
  }

  step(k: number): Promise<StepInfo | null> {
    return this.call('step', k);
  }

  run(): Promise<StepInfo | null> {
    return this.call('run');
  }

  lastInfo(): Promise<StepInfo | null> {
    return this.call('lastInfo');
  }

  particles(): Promise<Float32Array> {
    return this.call('particles');
  }

  scoreField(points: Float32Array, t: number): Promise<{ model: number[]; exact: number[] | null }> {
    return this.call('scoreField', points, t);
  }

  logDensity(points: Float32Array, t: number, rtol: number): Promise<Float32Array> {
    return this.call('logDensity', points, t, rtol);
  }

  bitsPerDim(pixels: Float32Array): Promise<{ bpd: number[]; nfe: number }> {
    return this.call('bitsPerDim', pixels);
  }

  report(particles: Float32Array, repeats: number): Promise<Report> {
    return this.call('report', particles, repeats);
  }
}

/** A network being trained in a worker. */
export class RemoteTraining extends RemoteObject {
  train(k: number): Promise<{ loss: number; step: number; steps_per_second: number }> {
    return this.call('train', k);
  }

  fisher(n: number): Promise<number> {
    return this.call('fisher', n);
  }

  /** The probability-flow velocity's error E_t E‖v_θ − v‖² against the exact mixture's. */
  velocityError(n: number): Promise<number> {
    return this.call('velocityError', n);
  }

  /** The model as weight-file bytes (safetensors + manifest). */
  export(): Promise<Uint8Array> {
    return this.call('export');
  }

  /** The whole training state (weights, EMA, Adam moments, step) as bytes. */
  checkpoint(): Promise<Uint8Array> {
    return this.call('checkpoint');
  }

  /** Continue from `checkpoint()` bytes of a run with the same spec; resolves to its step. */
  restore(bytes: Uint8Array): Promise<number> {
    return this.call('restore', bytes);
  }
}

export type Session = RemoteSession;
export type Training = RemoteTraining;
