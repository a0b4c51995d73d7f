// The wasm module runs here, off the page's main thread (a module web worker). The page
// talks to it through wasm.ts: `new` creates a Session or Training and returns a handle,
// `call` runs one of its methods, `fn` one of the module's free functions, `free` drops an
// object. Messages are handled strictly in order, one at a time (a session refuses
// overlapping commands), so the page may send a command without waiting for the last one.
// Cancelling is the page's side: it terminates this worker, which stops even a single long
// call (an RK45 solve, a density map, a bits/dim) at once.
//
// The crate is built into five modules (`make wasm`): a CPU module (burn's ndarray backend)
// loads with the worker and answers the free functions and every CPU object; the WebGPU
// module (burn-wgpu) is fetched and started the first time a WebGPU object is asked for, so
// a visit that never uses WebGPU never downloads it. Objects of both live side by side.
// The CPU module comes in two builds: on every core through wasm threads (a pool of web
// workers sharing its memory: wasm-bindgen-rayon) where the page is cross-origin isolated
// (SharedArrayBuffer), and on this one thread otherwise; each of them twice, with relaxed
// SIMD (pkg/relaxed/, where the browser has it: the page tells through the worker's name,
// wasm.ts) and with plain wasm SIMD. The page says which (`cpuEngine`).
import type * as CpuModule from '../pkg/scorelab_cpu.js';
import type { CpuEngine } from './wasm';

type Module = typeof CpuModule;

type Msg =
  | { id: number; op: 'new'; cls: 'Session' | 'Training'; args: unknown[] }
  | { id: number; op: 'call'; handle: number; method: string; args: unknown[] }
  | { id: number; op: 'fn'; name: string; args: unknown[] }
  | { id: number; op: 'free'; handle: number }
  | { id: number; op: 'loseDevice' };

const scope = self as unknown as {
  postMessage(m: unknown, transfer?: Transferable[]): void;
  onmessage: ((ev: MessageEvent<Msg>) => void) | null;
  onerror: ((ev: ErrorEvent) => boolean | void) | null;
};
// A Rust panic is printed by console_error_panic_hook and then traps ("unreachable"),
// outside any call's try/catch when it happens inside a future. Keep the printed message
// and send it to the page with the trap, so the page can say what went wrong.
let lastError = '';
const consoleError = console.error.bind(console);
console.error = (...args: unknown[]) => {
  lastError = args.map(String).join(' ');
  consoleError(...args);
};
(self as unknown as EventTarget).addEventListener('error', (e) => {
  const ev = e as ErrorEvent;
  ev.preventDefault(); // handled: the page gets this message instead of a bare error event
  scope.postMessage({ id: -1, ok: false, error: `${ev.message}${lastError ? ` (${lastError.split('\n')[0]})` : ''}` });
});
// Anything the Content-Security-Policy blocks in this worker (a script, a wasm compile, a
// fetch) is reported to the page (id -3), which logs it as an error: the policy is meant to
// block nothing the page itself does (www/tests/page.test.mjs).
(self as unknown as EventTarget).addEventListener('securitypolicyviolation', (e) => {
  const v = e as SecurityPolicyViolationEvent;
  scope.postMessage({ id: -3, ok: false, error: `the Content-Security-Policy blocked ${v.blockedURI || 'an inline script'} (${v.effectiveDirective})` });
});
// WebGPU devices this worker's module opened (burn-wgpu asks through the adapter). The page
// hears of a lost one (a GPU reset, a driver update, the browser reclaiming it) through
// `device.lost` and falls back to the CPU: message id -2. `loseDevice` destroys them, which
// is how the tests lose a device on purpose.
const gpuDevices: { destroy(): void; lost: Promise<{ reason?: string; message?: string }> }[] = [];
const adapterClass = (self as unknown as { GPUAdapter?: { prototype: { requestDevice(...a: unknown[]): Promise<any> } } }).GPUAdapter;
if (adapterClass?.prototype?.requestDevice) {
  const requestDevice = adapterClass.prototype.requestDevice;
  adapterClass.prototype.requestDevice = async function (this: unknown, ...args: unknown[]) {
    const device = await requestDevice.apply(this, args);
    gpuDevices.push(device);
    void device.lost.then((info: { reason?: string; message?: string }) => {
      const why = [info.reason, info.message].filter(Boolean).join(': ') || 'no reason given';
      scope.postMessage({ id: -2, ok: false, error: `the WebGPU device was lost (${why})` });
    });
    return device;
  };
}
let cpu: Module;
/** Relaxed SIMD (wasm.ts decided; a name ending in ":simd128" says no). */
const relaxed = !(self as unknown as { name: string }).name.endsWith(':simd128');
const simd = relaxed ? 'relaxed' : 'simd128';
let engine: CpuEngine = { threads: 1, why: '', simd };
/** Threads for the pool: the browser's logical cores, at most 16 (the pool's workers each
 * instantiate the module; past that the GEMM blocks get too small to gain). */
const MAX_THREADS = 16;

async function startCpu(): Promise<{ memory: WebAssembly.Memory }> {
  const g = self as unknown as { crossOriginIsolated?: boolean; navigator: { hardwareConcurrency?: number } };
  const cores = Math.min(MAX_THREADS, g.navigator.hardwareConcurrency ?? 1);
  let why = '';
  if (!g.crossOriginIsolated) why = 'the page is not cross-origin isolated (no COOP/COEP headers, and no service worker could add them)';
  else if (cores < 2) why = 'the browser reports one core';
  else {
    try {
      const m = relaxed ? await import('../pkg/relaxed/scorelab_cpu_threads_relaxed.js') : await import('../pkg/scorelab_cpu_threads.js');
      const exports = (await m.default()) as unknown as { memory: WebAssembly.Memory };
      await m.initThreadPool(cores);
      cpu = m as unknown as Module;
      engine = { threads: cores, why: '', simd };
      return exports;
    } catch (e) {
      why = `the threaded module failed to start (${(e as Error)?.message ?? e})`;
    }
  }
  const m = relaxed ? await import('../pkg/relaxed/scorelab_cpu_relaxed.js') : await import('../pkg/scorelab_cpu.js');
  const exports = (await m.default()) as unknown as { memory: WebAssembly.Memory };
  cpu = m as unknown as Module;
  engine = { threads: 1, why, simd };
  return exports;
}
const ready = startCpu();
let webgpu: Promise<{ module: Module; memory: WebAssembly.Memory }> | null = null;

/** The WebGPU module, fetched and started on first use. */
function webgpuModule(): Promise<{ module: Module; memory: WebAssembly.Memory }> {
  if (!webgpu) {
    webgpu = import('../pkg/scorelab_gpu.js').then(async (m) => {
      const exports = (await m.default()) as unknown as { memory: WebAssembly.Memory };
      return { module: m as unknown as Module, memory: exports.memory };
    });
    webgpu.catch(() => (webgpu = null)); // a failed fetch is tried again on the next call
  }
  return webgpu;
}

/** The module of `backend`: "auto" is WebGPU when the browser offers an adapter. */
async function moduleFor(backend: unknown): Promise<Module> {
  let gpu = backend === 'webgpu';
  if (backend === 'auto') {
    const nav = (self as unknown as { navigator: { gpu?: { requestAdapter(): Promise<unknown> } } }).navigator;
    gpu = Boolean(await nav.gpu?.requestAdapter().catch(() => null));
  }
  return gpu ? (await webgpuModule()).module : cpu;
}

/** Both modules' wasm memory, in bytes. */
async function memoryBytes(): Promise<number> {
  const own = (await ready).memory.buffer.byteLength;
  const gpu = webgpu ? await webgpu.then((g) => g.memory.buffer.byteLength, () => 0) : 0;
  return own + gpu;
}
const objects = new Map<number, any>();
let nextHandle = 1;
let queue: Promise<void> = Promise.resolve();

const FREE_FUNCTIONS = ['presets', 'toySets', 'objectives', 'normalizeSettings', 'samplerDefaults', 'sdeDefaults', 'inspectWeights', 'cpuEngine', 'parsePoints', 'choices', 'dataPreview', 'frontierPlan', 'frontierPoint'];

async function handle(msg: Msg): Promise<unknown> {
  await ready;
  switch (msg.op) {
    case 'new': {
      const wasm = await moduleFor(msg.args[0]);
      const cls = msg.cls === 'Session' ? wasm.Session : wasm.Training;
      const obj = await (cls.create as (...a: unknown[]) => Promise<any>)(...msg.args);
      const handle = nextHandle++;
      objects.set(handle, obj);
      return { handle, backend: obj.backend };
    }
    case 'call': {
      const obj = objects.get(msg.handle);
      if (!obj) throw new Error(`no object with handle ${msg.handle} in the worker (freed or never created)`);
      if (typeof obj[msg.method] !== 'function') throw new Error(`unknown method '${msg.method}'`);
      return await obj[msg.method](...msg.args);
    }
    case 'fn': {
      if (!FREE_FUNCTIONS.includes(msg.name)) throw new Error(`unknown function '${msg.name}'; accepted: ${FREE_FUNCTIONS.join(', ')}`);
      if (msg.name === 'cpuEngine') return engine;
      return await (cpu as any)[msg.name](...msg.args);
    }
    case 'loseDevice': {
      for (const d of gpuDevices) d.destroy();
      await Promise.all(gpuDevices.map((d) => d.lost)); // reported (id -2) before this answer
      return gpuDevices.length;
    }
    case 'free': {
      objects.get(msg.handle)?.free();
      objects.delete(msg.handle);
      return null;
    }
  }
}

scope.onmessage = (ev) => {
  const msg = ev.data;
  queue = queue.then(async () => {
    try {
      const value = await handle(msg);
      scope.postMessage({ id: msg.id, ok: true, value, memory: await memoryBytes() });
    } catch (e) {
      scope.postMessage({ id: msg.id, ok: false, error: (e as Error)?.message ?? String(e) });
    }
  });
};
