// The page's header: which backend runs (WebGPU, or the CPU with its threads and why one),
// and whether this browser can run the page at all (WebAssembly SIMD).
import { $ } from './page';
import type { CpuEngine } from './wasm';

/** What the header needs of the page (the Playground). */
export interface HeaderHost {
  readonly remote: { fn<T>(name: string, ...args: unknown[]): Promise<T> };
}

/** The header's backend: WebGPU, or the CPU with its threads (and why one, where so). */
export async function showBackend(host: HeaderHost, backend: string): Promise<void> {
  const el = $('backend');
  document.body.dataset.backend = backend;
  el.removeAttribute('title');
  if (backend === 'webgpu') {
    el.textContent = 'WebGPU';
    return;
  }
  const engine = await host.remote.fn<CpuEngine>('cpuEngine');
  document.body.dataset.threads = String(engine.threads);
  document.body.dataset.simd = engine.simd;
  el.textContent = engine.threads > 1 ? `CPU (wasm, ${engine.threads} threads)` : `CPU (wasm, 1 thread)`;
  const simd = engine.simd === 'relaxed' ? 'wasm SIMD with relaxed SIMD (fused multiply-add)' : 'wasm SIMD (this browser has no relaxed SIMD)';
  el.title = engine.why ? `one thread: ${engine.why}; ${simd}` : simd;
  $('threadsWhy').textContent = engine.why ? `one thread: ${engine.why}` : '';
}

/** Does this browser run WebAssembly SIMD (the modules are built with +simd128)? A module
 * with one v128 instruction, as wasm-feature-detect checks it. */
export function wasmSimd(): boolean {
  try {
    return WebAssembly.validate(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]));
  } catch {
    return false;
  }
}
