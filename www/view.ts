// Drawing the lab: the particles (live or a recorded frame), the overlays, the
// trajectories, the points drawn for training, the step's line (t, NFE, step size), the
// report against the mixture at the end of a run, and a warning for particles outside the
// plotted square.
import { $, VIEW } from './page';
import { CLASS_COLORS, COLORS, drawScene, type Scene, type TrailLayer } from './plot';
import { computeOverlays, type Overlays, type OverlaysHost } from './overlays';
import { record, type PlayerHost } from './player';
import { stepText, type Preset } from './wasm';

/** What drawing the lab needs of the page (the Playground). */
export interface ViewHost extends OverlaysHost, PlayerHost {
  overlays: Overlays;
  overlayScene: Partial<Scene>;
  particles: Float32Array;
  drawn: number[];
  drawnLabels: number[];
  readonly trails: TrailLayer;
  readParticles(): Promise<Float32Array>;
  referencePreset(): Preset | undefined;
}

/** Particles (n·2 values) outside the plotted square, non-finite ones included. */
function countOutside(p: Float32Array, view: { lo: number; hi: number }): number {
  let k = 0;
  for (let i = 0; i + 1 < p.length; i += 2) {
    const x = p[i];
    const y = p[i + 1];
    if (!(x >= view.lo && x <= view.hi && y >= view.lo && y <= view.hi)) k++;
  }
  return k;
}

/** The plot's legend: one entry per kind of mark shown, each with its meaning. */
function legend(scene: Partial<Scene> & { means: number[][]; n: number; t: number | null }): void {
  const items: [string, string, string][] = [['●', COLORS.particles, `samples x (${scene.n} particles of the sampler${scene.t === null ? '' : `, at time t = ${scene.t.toFixed(3)}`})`]];
  if (scene.means.length) items.push(['×', COLORS.means, 'the mixture\'s means (where the data are)']);
  if (scene.drawn) {
    const classes = new Set(scene.drawnClasses ?? []);
    if (classes.size <= 1) items.push(['■', CLASS_COLORS[([...classes][0] ?? 0) % CLASS_COLORS.length], 'points drawn for training']);
    else for (const c of [...classes].sort((a, b) => a - b)) items.push(['■', CLASS_COLORS[c % CLASS_COLORS.length], `points drawn, class ${c}`]);
  }
  for (const a of scene.arrows ?? []) {
    items.push(['→', a.color, a.color === COLORS.exact ? 'exact score ∇ₓ log p_t(x) (arrows scaled to the grid)' : 'learned score s_θ(x, t) (arrows scaled to the grid)']);
  }
  if (scene.trails) items.push(['〰', '#555', 'trajectories of 40 particles, one colour each']);
  if (scene.heat) items.push(['▦', '#555', `heat map: ${scene.heat.label} (colour bar, top right)`]);
  const box = $('legend');
  box.replaceChildren(
    ...items.map(([mark, color, text]) => {
      const item = document.createElement('span');
      const m = document.createElement('b');
      m.textContent = mark;
      m.style.color = color;
      m.setAttribute('aria-hidden', 'true');
      item.append(m, ` ${text}`);
      return item;
    }),
  );
}

/** The trajectories' layer, brought up to frame `upto`. */
function updateTrails(host: ViewHost, upto: number): TrailLayer {
  const plot = $<HTMLCanvasElement>('plot');
  host.trails.update(host.frames, upto, VIEW, plot.width, plot.height);
  return host.trails;
}

export async function refresh(host: ViewHost, read = true): Promise<void> {
  if (read) {
    host.particles = await host.readParticles();
    if (host.viewIndex === null) record(host, host.particles, host.info);
  }
  const shown = host.viewIndex !== null ? host.frames[host.viewIndex] : host.particles;
  const shownInfo = host.viewIndex !== null ? host.frameInfo[host.viewIndex] : host.info;
  const preset = host.referencePreset();
  const anyOverlay = host.overlays.model || host.overlays.exact || host.overlays.error || host.overlays.density;
  if (anyOverlay && (!host.playing || (shownInfo?.index ?? 0) % 20 === 0)) {
    try {
      host.overlayScene = {}; // a failed computation draws no stale layers
      host.overlayScene = await computeOverlays(host);
    } catch (e) {
      host.showError((e as Error).message);
    }
  } else if (!anyOverlay) {
    host.overlayScene = {};
  }
  const dim = host.session.dim();
  if (dim === 2) {
    const upto = host.viewIndex ?? host.frames.length - 1;
    const scene: Scene = {
      particles: shown,
      dim,
      means: preset?.mixture.means ?? [],
      view: VIEW,
      ...host.overlayScene,
      trails: host.overlays.trails ? updateTrails(host, upto) : undefined,
      drawn: host.drawn.length ? Float32Array.from(host.drawn) : undefined,
      drawnClasses: host.drawn.length ? Uint8Array.from(host.drawnLabels) : undefined,
    };
    drawScene($('plot'), scene);
    legend({ ...scene, n: shown.length / 2, t: shownInfo?.t ?? null });
  }
  const i = shownInfo;
  $('info').textContent = i
    ? `${stepText(i, host.state().denoise)}   t = ${i.t.toFixed(4)}   NFE = ${i.nfe}   step size = ${i.step_size.toExponential(2)}` +
      (i.accepted === null ? '' : i.accepted ? '   accepted' : '   rejected') +
      (i.level === null ? '' : `   level ${i.level + 1}`) +
      (i.denoise ? '   (the final denoising step)' : '') +
      (i.done ? '   done' : '') +
      (host.viewIndex !== null ? `   (replaying frame ${host.viewIndex} of ${host.frames.length - 1})` : '')
    : 'ready: press play or step';
  if (i?.done && preset && host.viewIndex === null) {
    const r = await host.session.report(host.particles, 20);
    const fmt = (v: number[]) => v.map((w) => w.toFixed(3)).join(' ');
    const weights = host.state().weights ?? preset.mixture.weights;
    const total = (weights as number[]).reduce((a: number, b: number) => a + b, 0);
    // a guided run: at w = 0 the class's component is the target; at w > 0 there is no
    // closed form (p(x|c)^{1+w} p(x)^{−w}), so the share in the class's mode is what is known
    const g = r.guided;
    $('report').textContent =
      (r.mode_weights.length <= 10 ? `mode weights ${fmt(r.mode_weights)} (mixture ${fmt((weights as number[]).map((w) => w / total))})   ` : '') +
      (!g
        ? `sliced W2 ${r.sw.toFixed(3)} (exact vs exact: ${r.sw_median.toFixed(3)} median)`
        : g.component
          ? `class ${g.class}: sliced W2 to its component ${g.component.sw.toFixed(3)} (exact vs exact: ${g.component.sw_median.toFixed(3)} median)`
          : `class ${g.class}: ${(100 * g.share).toFixed(1)} % of the samples in its mode (guided, w = ${g.scale}: no closed form to compare with)`);
  } else {
    $('report').textContent = '';
  }
  $('reportHelp').hidden = !$('report').textContent;
  // particles the square [-10, 10]² does not show (a badly trained model's samples)
  const outside = dim === 2 ? countOutside(shown, VIEW) : 0;
  const warn = $('plotWarning');
  warn.hidden = outside === 0;
  warn.textContent = outside ? `${outside} of ${shown.length / 2} particles lie outside the plotted square [${VIEW.lo}, ${VIEW.hi}]² and are not shown${host.state().model.startsWith('weights:') ? ' (is the network trained enough?)' : ''}` : '';
  $('play').textContent = host.playing ? 'pause' : 'play';
}
