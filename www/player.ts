// The lab's player: play / pause, step, step back through recorded frames, run to the end,
// reset, the link to the step shown, cancel; the frames recorded for stepping back and for
// the trajectories.
import { $ } from './page';
import { hashString, writeHash, type HashState } from './state';
import type { Session, Settings, StepInfo } from './wasm';

/** Frames kept for stepping back and drawing trajectories. */
const MAX_FRAMES = 3000;

/** What the player needs of the page (the Playground). */
export interface PlayerHost {
  readonly session: Session;
  hash: HashState;
  playing: boolean;
  stepsPerFrame: number;
  info: StepInfo | null;
  /** Recorded particles after each step (index 0: the start) and the step infos. */
  frames: Float32Array[];
  frameInfo: (StepInfo | null)[];
  /** The frame shown when stepping back (null: the live sampler). */
  viewIndex: number | null;
  loopGeneration: number;
  /** Player loops running now (for the tests: never more than one). */
  loopsRunning: number;
  state(): Settings;
  setState(s: Settings): Promise<void>;
  serial<T>(f: () => Promise<T>): Promise<T>;
  refresh(read?: boolean): Promise<void>;
  guard(f: () => Promise<unknown>): Promise<void>;
  cancel(): Promise<void>;
  showError(msg: string): void;
}

/** Forget the recorded frames (new settings, a restarted sampler). */
export function resetFrames(host: PlayerHost): void {
  host.frames = [];
  host.frameInfo = [];
  host.viewIndex = null;
}

/** Record the particles after a step (2-D only; beyond MAX_FRAMES every other frame is
 * dropped, so the trail stays complete at a coarser step). */
export function record(host: PlayerHost, p: Float32Array, info: StepInfo | null): void {
  if (host.session.dim() !== 2) return;
  if (host.frames.length >= MAX_FRAMES) {
    // keep every other frame: the trail stays complete at a coarser step
    host.frames = host.frames.filter((_, i) => i % 2 === 0);
    host.frameInfo = host.frameInfo.filter((_, i) => i % 2 === 0);
  }
  host.frames.push(p.slice());
  host.frameInfo.push(info);
}

/** k sampler steps (or k recorded frames forward after "back"). */
export async function step(host: PlayerHost, k: number): Promise<StepInfo | null> {
  // Stepping forward through recorded frames first (after "back").
  if (host.viewIndex !== null) {
    host.viewIndex = Math.min(host.viewIndex + k, host.frames.length - 1);
    if (host.viewIndex === host.frames.length - 1) host.viewIndex = null;
    await host.refresh(false);
    return host.info;
  }
  const info = await host.serial(() => host.session.step(k) as Promise<StepInfo | null>);
  if (info) host.info = info;
  host.hash.k = info?.index ?? null;
  writeHash(host.hash);
  await host.refresh();
  return host.info;
}

/** Show the previous recorded frame (the sampler itself is not rewound). */
export async function stepBack(host: PlayerHost, k = 1): Promise<StepInfo | null> {
  if (host.frames.length < 2) return host.info;
  const cur = host.viewIndex ?? host.frames.length - 1;
  host.viewIndex = Math.max(0, cur - k);
  host.playing = false;
  await host.refresh(false);
  return host.frameInfo[host.viewIndex] ?? null;
}

/** The sampler to its end. */
export async function run(host: PlayerHost): Promise<StepInfo | null> {
  host.playing = false;
  host.viewIndex = null;
  const info = await host.serial(() => host.session.run() as Promise<StepInfo | null>);
  if (info) host.info = info;
  host.hash.k = info?.index ?? null;
  writeHash(host.hash);
  await host.refresh();
  return host.info;
}

/** Wire play / pause, step, back, reset, link, cancel (and Esc) and the speed. */
export function bindPlayer(host: PlayerHost): void {
  $('play').onclick = () => {
    host.playing = !host.playing;
    if (host.playing) loop(host);
    else void host.refresh(false);
  };
  $('stepbtn').onclick = () => host.guard(() => step(host, 1));
  $('backbtn').onclick = () => host.guard(() => stepBack(host, 1));
  $('reset').onclick = () => host.guard(() => host.setState(host.state()));
  $('linkbtn').onclick = () =>
    host.guard(async () => {
      const url = location.href.split('#')[0] + hashString(host.hash);
      $('linkOut').textContent = url;
      await navigator.clipboard?.writeText(url).catch(() => undefined);
    });
  $('cancelBtn').onclick = () => host.guard(() => host.cancel());
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && !$<HTMLButtonElement>('cancelBtn').disabled) void host.guard(() => host.cancel());
    if (!playerKey(e)) return;
    e.preventDefault();
    if (e.key === ' ') $('play').click();
    else if (e.key === 'ArrowRight') $('stepbtn').click();
    else $('backbtn').click();
  });
  $<HTMLSelectElement>('speed').onchange = (e) => {
    host.stepsPerFrame = Number((e.target as HTMLSelectElement).value);
  };
}

/** Space (play / pause), → (step) and ← (back) drive the lab's player, but not while the
 * lab is hidden (a demo) or the key goes to a field, a menu, a slider or a button (typing
 * a number, moving a slider, pressing a focused button keep their own meaning). */
export function playerKey(e: KeyboardEvent): boolean {
  if (e.key !== ' ' && e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return false;
  if (e.ctrlKey || e.metaKey || e.altKey || e.shiftKey || $('lab').hidden) return false;
  const t = e.target as HTMLElement | null;
  return !t?.closest?.('input, select, textarea, button, a, [contenteditable], [role=slider]');
}

/** Step while playing, one batch of steps per animation frame. Every play bumps
 * `loopGeneration`: a loop whose generation is stale stops (play, pause, play in quick
 * succession never leaves two loops stepping). */
async function loop(host: PlayerHost): Promise<void> {
  const my = ++host.loopGeneration;
  host.loopsRunning++;
  try {
    while (host.playing && my === host.loopGeneration) {
      try {
        const info = await step(host, host.stepsPerFrame);
        if (!info || (info.done && host.viewIndex === null)) host.playing = false;
      } catch (e) {
        host.playing = false;
        host.showError((e as Error).message);
      }
      await new Promise((r) => requestAnimationFrame(() => r(null)));
    }
  } finally {
    host.loopsRunning--;
  }
  if (my === host.loopGeneration) await host.refresh(false);
}
