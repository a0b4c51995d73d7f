// When the lab's work must stop or move: the cancel button (enabled once a computation has
// run 0.3 s; Esc too) terminates the sampler's worker and restarts the session with the
// same settings and networks, training stops between chunks; a lost WebGPU device moves
// the sampler to the CPU the same way.
import { $ } from './page';
import type { Scene } from './plot';
import type { DeviceLost, Remote, Session, StepInfo } from './wasm';
import type { Overlays } from './overlays';

/** What stopping and recovering need of the page (the Playground). */
export interface RecoveryHost {
  readonly remote: Remote;
  session: Session;
  playing: boolean;
  autoTrain: boolean;
  trainingNow: boolean;
  stopTraining: boolean;
  gpuLost: boolean;
  busy: Promise<unknown>;
  info: StepInfo | null;
  overlays: Overlays;
  overlayScene: Partial<Scene>;
  cancelTimer: number | null;
  /** The loaded networks' bytes, to load them again into a restarted worker. */
  netBytes: Map<string, Uint8Array>;
  resetFrames(): void;
  refresh(read?: boolean): Promise<void>;
  showBackend(backend: string): Promise<void>;
  showError(msg: string): void;
  showNote(msg: string): void;
}

/** The sampler's WebGPU device was lost: a CPU session with the same settings and loaded
 * networks replaces it (the run starts again from step 0), as cancel() does. */
export async function samplerOnCpuAfter(host: RecoveryHost, e: DeviceLost): Promise<void> {
  host.gpuLost = true;
  host.playing = false;
  const settings = host.session.state();
  host.busy = Promise.resolve();
  const { session } = await host.remote.createSession('cpu', null);
  for (const [name, bytes] of host.netBytes) await session.loadWeights(name, bytes);
  await session.setState(settings);
  host.session = session;
  await host.showBackend('cpu');
  host.info = null;
  host.overlayScene = {};
  host.resetFrames();
  await host.refresh();
  host.showNote(`${e.message}; the sampler continues on the CPU with the same settings, from step 0`);
}

/** The cancel button is enabled while a computation has run for more than 0.3 s. */
export function updateCancel(host: RecoveryHost): void {
  const btn = $<HTMLButtonElement>('cancelBtn');
  const busy = () => host.remote.inFlight > 0 || host.trainingNow;
  if (!busy()) {
    if (host.cancelTimer !== null) clearTimeout(host.cancelTimer);
    host.cancelTimer = null;
    btn.disabled = true;
  } else if (host.cancelTimer === null && btn.disabled) {
    host.cancelTimer = window.setTimeout(() => {
      host.cancelTimer = null;
      btn.disabled = !busy();
    }, 300);
  }
}

/** Stop what the lab is computing. Training stops after its current chunk (the network and
 * its steps are kept). The sampler's worker is terminated, which stops even one long call
 * (an RK45 run, a density map), and a new one gets the same settings and loaded networks;
 * the run starts again from step 0, and the density overlay (the usual long call) is
 * switched off. */
export async function cancel(host: RecoveryHost): Promise<void> {
  host.playing = false;
  host.autoTrain = false;
  $<HTMLInputElement>('autoTrain').checked = false;
  if (host.trainingNow) host.stopTraining = true;
  if (host.remote.inFlight === 0) return;
  const settings = host.session.state();
  const backend = host.session.backend as 'webgpu' | 'cpu';
  host.remote.cancel();
  host.busy = Promise.resolve();
  host.overlays.density = false;
  $<HTMLInputElement>('ov-density').checked = false;
  const { session } = await host.remote.createSession(backend, null);
  for (const [name, bytes] of host.netBytes) await session.loadWeights(name, bytes);
  await session.setState(settings);
  host.session = session;
  host.info = null;
  host.overlayScene = {};
  host.resetFrames();
  await host.refresh();
  host.showError('cancelled: the sampler was restarted from step 0 with the same settings (density overlay off)');
}
