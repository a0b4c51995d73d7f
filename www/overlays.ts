// The lab's overlays: the learned score (arrows), the exact score where a mixture is
// known, the map of their error, the density (closed form for mixtures, the probability-flow
// ODE for networks) and trajectories, at the sampler's time or one chosen with the slider.
// Computed in the lab's worker through the session; drawn by plot.ts.
import { $, VIEW } from './page';
import { COLORS, gridPoints, type Grid, type Scene } from './plot';
import type { Session } from './wasm';

export interface Overlays {
  model: boolean;
  exact: boolean;
  error: boolean;
  density: boolean;
  trails: boolean;
  /** Time the fields are drawn at; null follows the sampler. */
  t: number | null;
}

/** What the overlays need of the page (the Playground). */
export interface OverlaysHost {
  overlays: Overlays;
  readonly session: Session;
  serial<T>(f: () => Promise<T>): Promise<T>;
  guard(f: () => Promise<unknown>): Promise<void>;
  refresh(read?: boolean): Promise<void>;
  /** Is the lab's model a network (not an exact mixture)? */
  isNetwork(): boolean;
  /** The time overlays are drawn at. */
  overlayTime(): number;
}

/** Recompute the score / error / density layers (2-D models only). */
export async function computeOverlays(host: OverlaysHost): Promise<Partial<Scene>> {
  const o = host.overlays;
  const scene: Partial<Scene> = {};
  if (host.session.dim() !== 2 || !(o.model || o.exact || o.error || o.density)) return scene;
  // an exact model has no learned score: "learned score" and "score error" are for networks
  const network = host.isNetwork();
  const model = o.model && network;
  const error = o.error && network;
  const t = host.overlayTime();
  const arrows: Scene['arrows'] = [];
  if (model || o.exact || error) {
    const grid: Grid = gridPoints(VIEW, error ? 40 : 20);
    const f = (await host.serial(() => host.session.scoreField(grid.points, t) as Promise<{ model: number[]; exact: number[] | null }>));
    if (error) {
      if (!f.exact) throw new Error('score error: this model has no exact score to compare with (mixture presets and networks trained on them have one)');
      const values = new Float32Array(grid.g * grid.g);
      for (let i = 0; i < values.length; i++) values[i] = Math.hypot(f.model[2 * i] - f.exact[2 * i], f.model[2 * i + 1] - f.exact[2 * i + 1]);
      scene.heat = { grid, values, palette: 'error', label: 'score error ‖s_θ − ∇ log p_t‖' };
    }
    const coarse = gridPoints(VIEW, 20);
    const coarseField = error ? (await host.serial(() => host.session.scoreField(coarse.points, t) as Promise<{ model: number[]; exact: number[] | null }>)) : f;
    if (model) arrows.push({ grid: coarse, vectors: Float32Array.from(coarseField.model), color: COLORS.learned });
    if (o.exact) {
      if (!coarseField.exact) throw new Error('exact score: this model has no reference mixture');
      arrows.push({ grid: coarse, vectors: Float32Array.from(coarseField.exact), color: COLORS.exact });
    }
  }
  if (o.density && !error) {
    const grid = gridPoints(VIEW, 32);
    const lp = await host.serial(() => host.session.logDensity(grid.points, Math.min(t, 0.5), 1e-3) as Promise<Float32Array>);
    scene.heat = { grid, values: lp.map((v) => Math.exp(v)), palette: 'density', label: 'density p_t(x), per unit area' };
  }
  scene.arrows = arrows;
  return scene;
}

/** "learned score" and "score error" only mean something for a network. */
export function updateOverlayControls(host: Pick<OverlaysHost, 'isNetwork'>): void {
  const network = host.isNetwork();
  for (const key of ['model', 'error'] as const) {
    const box = $<HTMLInputElement>(`ov-${key}`);
    box.disabled = !network;
    box.parentElement!.title = network ? '' : 'the model is an exact mixture: its score is the exact score; train or load a network to see a learned one';
  }
  $('ov-network-note').hidden = network;
}

export function bindOverlays(host: OverlaysHost): void {
  for (const key of ['model', 'exact', 'error', 'density', 'trails'] as const) {
    const box = $<HTMLInputElement>(`ov-${key}`);
    box.checked = host.overlays[key];
    box.onchange = () =>
      host.guard(async () => {
        host.overlays[key] = box.checked;
        await host.refresh(false);
      });
  }
  const t = $<HTMLInputElement>('ov-t');
  const label = $('ov-t-value');
  t.oninput = () =>
    host.guard(async () => {
      const v = Number(t.value);
      host.overlays.t = v >= 1 ? null : Math.max(1e-3, 10 ** (-3 * (1 - v)));
      label.textContent = host.overlays.t === null ? 'follow sampler' : `t = ${host.overlays.t.toFixed(3)}`;
      await host.refresh(false);
    });
}
