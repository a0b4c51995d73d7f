// The wasm wrapper: loads the module once and creates sessions, falling back to the CPU
// backend when WebGPU is asked for but unavailable.
import init, * as wasm from '../pkg/scorelab.js';

export type Session = wasm.Session;
export type Training = wasm.Training;
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

export interface Preset {
  name: string;
  description: string;
  mixture: { weights: number[]; means: number[][]; covs: unknown[] };
}

let ready: Promise<unknown> | null = null;

export async function load(): Promise<typeof wasm> {
  ready ??= init();
  await ready;
  return wasm;
}

/** A session on the asked backend; 'auto' tries WebGPU, then the CPU. */
export async function createSession(
  backend: 'auto' | 'webgpu' | 'cpu',
  settings: Settings | null,
): Promise<{ session: Session; note: string }> {
  const m = await load();
  if (backend === 'cpu') return { session: await m.Session.create('cpu', settings), note: '' };
  try {
    return { session: await m.Session.create(backend, settings), note: '' };
  } catch (e) {
    const msg = (e as Error).message ?? String(e);
    if (!msg.includes('WebGPU') && !msg.includes('backend')) throw e;
    return { session: await m.Session.create('cpu', settings), note: `WebGPU unavailable (${msg}); using the CPU backend` };
  }
}
