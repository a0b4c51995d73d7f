import { Cancelled, Remote, type Session, type StepInfo, type Training } from '../wasm';

// What the demos share: DOM helpers, one run at a time (`latest`), stepping sessions side by
// side, training a network in chunks, and the state and hooks scripts read.

/** A weight file handed to the image lab (a dropped or chosen image model). */
export interface ImageModel {
  name: string;
  bytes: Uint8Array;
}

/** Handles the tests and slide decks read through `window.scorelab.demo`. */
export const demoState: Record<string, unknown> = {};
/** Functions a demo offers to scripts (`window.scorelab.demoCall(name, ...args)`). */
export const demoHooks: Record<string, (...args: any[]) => unknown> = {};

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, text = ''): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}

/** A control with its visible label (the label wraps it, so it names it). */
export function labelled(text: string, control: HTMLElement): HTMLLabelElement {
  const l = el('label', {}, text);
  l.append(control);
  return l;
}

/** A demo's "what to look for" paragraph: what to watch and why it happens. */
export function look(text: string): HTMLParagraphElement {
  const p = el('p', { class: 'look' });
  p.append(el('b', {}, 'What to look for: '), text);
  return p;
}

export function canvas(id: string, size = 360): HTMLCanvasElement {
  return el('canvas', { id, width: String(size), height: String(size), class: 'demo-plot fit' });
}

/** A plot with its title above and its text below; the text wraps at the plot's width, so a
 * long line never widens the column and pushes plots onto another row. */
export function column(title: string, plot: HTMLCanvasElement, text: HTMLElement): HTMLDivElement {
  const col = el('div', { style: `max-width: ${plot.width}px` });
  col.append(el('b', {}, title), plot, text);
  return col;
}

export const frame = () => new Promise((r) => requestAnimationFrame(() => r(null)));

type Job<T> = (current: () => boolean) => Promise<T>;

/**
 * One run at a time for a demo's buttons, slider and keys: `start(job)` supersedes the job
 * in flight (it stops at its next `current()` check), waits for it to end, then runs; jobs
 * that were superseded while they waited never start. Resolves to the job's value, or
 * undefined when it was superseded or failed: errors go to `onError` (a cancelled worker's
 * are expected and dropped), never to the console as uncaught rejections.
 * `demoState.inFlight` / `maxInFlight` / `runs` count jobs, for the tests.
 */
export function latest(alive: () => boolean, onError: (e: Error) => void): <T>(job: Job<T>) => Promise<T | undefined> {
  let gen = 0;
  let tail: Promise<unknown> = Promise.resolve();
  demoState.inFlight = 0;
  demoState.maxInFlight = 0;
  demoState.runs = 0;
  return <T>(job: Job<T>) => {
    const my = ++gen;
    const current = () => my === gen && alive();
    const next = tail.then(async (): Promise<T | undefined> => {
      if (!current()) return undefined; // superseded before it started
      demoState.inFlight = (demoState.inFlight as number) + 1;
      demoState.maxInFlight = Math.max(demoState.maxInFlight as number, demoState.inFlight as number);
      demoState.runs = (demoState.runs as number) + 1;
      try {
        return await job(current);
      } catch (e) {
        if (alive() && !(e instanceof Cancelled)) onError(e as Error);
        return undefined;
      } finally {
        demoState.inFlight = (demoState.inFlight as number) - 1;
      }
    });
    tail = next;
    return next;
  };
}

export async function runBoth(sessions: Session[], draw: (i: number, p: Float32Array, info: StepInfo | null) => void, alive: () => boolean, k = 10): Promise<(StepInfo | null)[]> {
  const infos: (StepInfo | null)[] = sessions.map(() => null);
  let done = false;
  while (!done && alive()) {
    done = true;
    for (let i = 0; i < sessions.length; i++) {
      if (infos[i]?.done) continue;
      infos[i] = (await sessions[i].step(k)) as StepInfo | null;
      draw(i, (await sessions[i].particles()) as Float32Array, infos[i]);
      if (!infos[i]?.done) done = false;
    }
    await frame();
  }
  return infos;
}

/** The mixture-weight pitfall: plain Langevin with the exact score ignores π; annealed
 * Langevin recovers it (SCIENCE.md: the score of a mixture with far-apart modes hardly
 * depends on the weights in each mode's basin). */
export async function trainNet(remote: Remote, backend: 'webgpu' | 'cpu', spec: Record<string, unknown>, steps: number, onChunk: (t: Training, r: { loss: number; step: number }) => Promise<void> | void, alive: () => boolean): Promise<Training | null> {
  const t = await remote.createTraining(backend, spec);
  while (alive()) {
    const r = (await t.train(50)) as { loss: number; step: number };
    await onChunk(t, r);
    if (r.step >= steps) return t;
    await frame();
  }
  return null;
}

/** The low-density pitfall: the learned score is accurate where the data are and wrong in
 * between (denoising score matching never sees those regions at small t). */
