// Drawing on a canvas: particles, the mixture's means, score arrows, heat maps (score
// error, density), trajectories, digit grids and line charts. Pure functions of their inputs.

export interface View {
  lo: number;
  hi: number;
}

/** A field sampled on a g×g grid over the view (row-major, y from bottom to top). */
export interface Grid {
  g: number;
  points: Float32Array;
}

/** Points of a g×g grid covering the view (cell centres), as n·2 values. */
export function gridPoints(view: View, g: number): Grid {
  const points = new Float32Array(g * g * 2);
  const step = (view.hi - view.lo) / g;
  for (let j = 0; j < g; j++) {
    for (let i = 0; i < g; i++) {
      points[(j * g + i) * 2] = view.lo + (i + 0.5) * step;
      points[(j * g + i) * 2 + 1] = view.lo + (j + 0.5) * step;
    }
  }
  return { g, points };
}

export interface Scene {
  particles: Float32Array;
  dim: number;
  means: number[][];
  view: View;
  /** A heat map on a grid: values per cell, drawn with `palette`; `label` says what the colour
   * is, with its units (drawn with the colour bar). */
  heat?: { grid: Grid; values: Float32Array; palette: 'error' | 'density'; label: string; range?: [number, number] };
  /** Arrows on a grid: vectors per point; `exact` arrows are drawn thinner, in red. */
  arrows?: { grid: Grid; vectors: Float32Array; color: string }[];
  /** Trajectories, drawn incrementally into their own layer (see `TrailLayer`). */
  trails?: TrailLayer;
  /** Data points drawn by the user (n·2 values), and each one's class (colour: CLASS_COLORS). */
  drawn?: Float32Array;
  drawnClasses?: Uint8Array;
  /** Tick labels and axis names (default: on). */
  axes?: boolean;
}

/** Okabe and Ito's colour-blind-safe palette (yellow left out: it vanishes on white). */
export const TRAIL_COLORS = ['#E69F00', '#56B4E9', '#009E73', '#0072B2', '#D55E00', '#CC79A7', '#000000'];

/**
 * Trajectories of a few particles (at most `count`, evenly spaced through the set, each its
 * own colour), drawn into a layer of their own one frame at a time: playing costs the new
 * segments only, whatever the number of particles or recorded frames. A step back (or the
 * recording being thinned or restarted) redraws the layer once.
 */
export class TrailLayer {
  readonly canvas = document.createElement('canvas');
  private first: Float32Array | null = null;
  private length = 0;
  private upto = -1;
  /** Line segments drawn by the last update (for the tests: bounded by `count`, not by frames). */
  lastSegments = 0;

  constructor(readonly count = 40) {}

  /** The particles followed, for n particles. */
  indices(n: number): number[] {
    const k = Math.min(this.count, n);
    return Array.from({ length: k }, (_, j) => Math.floor((j * n) / k));
  }

  /** Draw frames[0..=upto] (each n·2 values) on a w×h layer over the view. */
  update(frames: Float32Array[], upto: number, view: View, w: number, h: number): void {
    const c = this.canvas;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    if (c.width !== w || c.height !== h || frames[0] !== this.first || frames.length < this.length || upto < this.upto) {
      c.width = w;
      c.height = h;
      ctx.clearRect(0, 0, w, h);
      this.first = frames[0] ?? null;
      this.upto = 0;
    }
    this.length = frames.length;
    this.lastSegments = 0;
    if (upto <= this.upto || !frames[0]) return;
    const sx = (v: number) => ((v - view.lo) / (view.hi - view.lo)) * w;
    const sy = (v: number) => h - ((v - view.lo) / (view.hi - view.lo)) * h;
    ctx.lineWidth = 1.3;
    this.indices(frames[0].length / 2).forEach((i, k) => {
      ctx.strokeStyle = TRAIL_COLORS[k % TRAIL_COLORS.length];
      ctx.beginPath();
      ctx.moveTo(sx(frames[this.upto][i * 2]), sy(frames[this.upto][i * 2 + 1]));
      for (let f = this.upto + 1; f <= upto; f++) {
        ctx.lineTo(sx(frames[f][i * 2]), sy(frames[f][i * 2 + 1]));
        this.lastSegments++;
      }
      ctx.stroke();
    });
    this.upto = upto;
  }
}

/** Colour-blind-safe sequential maps, light at 0 so the marks stay readable on the empty
 * parts: viridis's hues from white for densities, magma's from pale yellow for errors (a
 * few stops, linearly interpolated). */
const MAPS: Record<'error' | 'density', number[][]> = {
  density: [[255, 255, 255], [194, 223, 35], [53, 183, 121], [38, 130, 142], [59, 82, 139], [68, 1, 84]],
  error: [[252, 253, 191], [252, 137, 97], [183, 55, 121], [81, 18, 124], [0, 0, 4]],
};

export function heatColor(v: number, palette: 'error' | 'density'): string {
  const stops = MAPS[palette];
  const x = Math.max(0, Math.min(1, Number.isFinite(v) ? v : 0)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((a, k) => Math.round(a + (stops[i + 1][k] - a) * f));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

/** The lab's colours (Okabe and Ito's colour-blind-safe set): the legend uses the same. */
export const COLORS = {
  particles: '#0072B2',
  means: '#D55E00',
  drawn: '#009E73',
  learned: '#1d1d2b',
  exact: '#D55E00',
};

/** The classes of drawn points (class 0 in the drawn points' green; colour-blind-safe, the
 * particles' blue left out). */
export const CLASS_COLORS = [COLORS.drawn, '#D55E00', '#CC79A7', '#E69F00', '#56B4E9', '#000000'];
export const CLASS_NAMES = ['green', 'vermilion', 'purple', 'orange', 'sky blue', 'black'];

/** Tick labels on the edges and the axis names (x₁ right, x₂ up). */
function drawAxes(ctx: CanvasRenderingContext2D, view: View, w: number, h: number, sx: (v: number) => number, sy: (v: number) => number): void {
  ctx.fillStyle = '#55556a';
  ctx.font = '11px system-ui, sans-serif';
  for (let g = Math.ceil(view.lo / 5) * 5; g <= view.hi; g += 5) {
    if (g === view.lo || g === view.hi) continue;
    const label = String(g);
    ctx.fillText(label, sx(g) - ctx.measureText(label).width / 2, h - 4);
    ctx.fillText(label, 3, sy(g) + 4);
  }
  ctx.font = 'italic 13px system-ui, sans-serif';
  ctx.fillText('x₁', w - 18, h - 4);
  ctx.fillText('x₂', 4, 14);
}

/** Numbers for a scale: 2 significant digits, exponents outside [0.01, 10⁴). */
export function fmtScale(v: number): string {
  return (Math.abs(v) >= 1e-2 && Math.abs(v) < 1e4) || v === 0 ? v.toPrecision(2) : v.toExponential(1);
}

/** A vertical colour bar at the top right: the map from `lo` (bottom) to `hi` (top), with
 * both numbers and what the colour is (`label`, with its units). */
function drawColorBar(ctx: CanvasRenderingContext2D, w: number, palette: 'error' | 'density', lo: number, hi: number, label: string): void {
  const barH = Math.min(120, ctx.canvas.height / 3);
  const x = w - 24;
  const y = 24;
  ctx.font = '11px system-ui, sans-serif';
  const lw = ctx.measureText(label).width;
  ctx.fillStyle = 'rgba(255,255,255,0.85)';
  ctx.fillRect(x - 50, y - 4, 72, barH + 8);
  ctx.fillRect(w - lw - 8, 2, lw + 6, 16);
  for (let k = 0; k < barH; k++) {
    ctx.fillStyle = heatColor(1 - k / (barH - 1), palette);
    ctx.fillRect(x, y + k, 14, 1);
  }
  ctx.strokeStyle = '#555';
  ctx.lineWidth = 1;
  ctx.strokeRect(x, y, 14, barH);
  ctx.fillStyle = '#222';
  ctx.fillText(label, w - lw - 5, 14);
  ctx.fillText(fmtScale(hi), x - 4 - ctx.measureText(fmtScale(hi)).width, y + 9);
  ctx.fillText(fmtScale(lo), x - 4 - ctx.measureText(fmtScale(lo)).width, y + barH);
}

/** Draw a scene; the canvas says what it shows in its `aria-label` (and a heat map's scale in
 * `data-heat-scale`, for scripts and tests). */
export function drawScene(canvas: HTMLCanvasElement, s: Scene): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  let bar: [number, number] | null = null;
  const { width: w, height: h } = canvas;
  const { view } = s;
  const sx = (v: number) => ((v - view.lo) / (view.hi - view.lo)) * w;
  const sy = (v: number) => h - ((v - view.lo) / (view.hi - view.lo)) * h;
  ctx.fillStyle = '#fbfbfd';
  ctx.fillRect(0, 0, w, h);
  if (s.heat) {
    const { grid, values, palette } = s.heat;
    // the colour scale: the values' own range, or a given one shared between plots
    let [lo, hi] = s.heat.range ?? [Infinity, -Infinity];
    if (!s.heat.range) {
      for (const v of values) {
        if (!Number.isFinite(v)) continue;
        lo = Math.min(lo, v);
        hi = Math.max(hi, v);
      }
    }
    const cw = w / grid.g;
    const ch = h / grid.g;
    for (let j = 0; j < grid.g; j++) {
      for (let i = 0; i < grid.g; i++) {
        const v = values[j * grid.g + i];
        ctx.fillStyle = heatColor(hi > lo ? (v - lo) / (hi - lo) : 0, palette);
        ctx.fillRect(i * cw, h - (j + 1) * ch, cw + 0.5, ch + 0.5);
      }
    }
    bar = [lo, hi];
  }
  ctx.strokeStyle = '#e3e3ea';
  ctx.lineWidth = 1;
  for (let g = Math.ceil(view.lo / 5) * 5; g <= view.hi; g += 5) {
    ctx.beginPath();
    ctx.moveTo(sx(g), 0);
    ctx.lineTo(sx(g), h);
    ctx.moveTo(0, sy(g));
    ctx.lineTo(w, sy(g));
    ctx.stroke();
  }
  if (s.axes !== false) drawAxes(ctx, view, w, h, sx, sy);
  for (const a of s.arrows ?? []) drawArrows(ctx, a.grid, a.vectors, a.color, sx, sy, (view.hi - view.lo) / a.grid.g);
  if (s.trails && s.dim === 2) ctx.drawImage(s.trails.canvas, 0, 0, w, h);
  if (s.drawn) {
    for (let i = 0; i + 1 < s.drawn.length; i += 2) {
      ctx.fillStyle = CLASS_COLORS[(s.drawnClasses?.[i / 2] ?? 0) % CLASS_COLORS.length];
      ctx.fillRect(sx(s.drawn[i]) - 2, sy(s.drawn[i + 1]) - 2, 4, 4);
    }
  }
  // with trajectories on, the other particles fade so the followed ones stand out
  ctx.globalAlpha = s.trails && s.dim === 2 ? 0.2 : 0.6;
  ctx.fillStyle = COLORS.particles;
  const n = Math.floor(s.particles.length / s.dim);
  for (let i = 0; i < n; i++) {
    const x = s.particles[i * s.dim];
    const y = s.dim > 1 ? s.particles[i * s.dim + 1] : 0;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    ctx.fillRect(sx(x) - 1.2, sy(y) - 1.2, 2.4, 2.4);
  }
  ctx.globalAlpha = 1;
  if (s.trails && s.dim === 2) {
    s.trails.indices(n).forEach((i, k) => {
      const x = s.particles[i * 2];
      const y = s.particles[i * 2 + 1];
      if (!Number.isFinite(x) || !Number.isFinite(y)) return;
      ctx.fillStyle = TRAIL_COLORS[k % TRAIL_COLORS.length];
      ctx.beginPath();
      ctx.arc(sx(x), sy(y), 3, 0, 2 * Math.PI);
      ctx.fill();
    });
  }
  ctx.strokeStyle = COLORS.means;
  ctx.lineWidth = 2;
  for (const m of s.means) {
    const cx = sx(m[0]);
    const cy = sy(m.length > 1 ? m[1] : 0);
    ctx.beginPath();
    ctx.moveTo(cx - 5, cy - 5);
    ctx.lineTo(cx + 5, cy + 5);
    ctx.moveTo(cx + 5, cy - 5);
    ctx.lineTo(cx - 5, cy + 5);
    ctx.stroke();
  }
  const scale = s.heat && bar ? `${s.heat.label}: ${fmtScale(bar[0])} to ${fmtScale(bar[1])}` : '';
  if (s.heat && bar) drawColorBar(ctx, w, s.heat.palette, bar[0], bar[1], s.heat.label);
  canvas.dataset.heatScale = scale;
  canvas.setAttribute('role', 'img');
  canvas.setAttribute(
    'aria-label',
    `${n} particles in the square [${view.lo}, ${view.hi}]²` +
      (s.means.length ? `, ${s.means.length} mixture means marked ×` : '') +
      (s.arrows?.length ? `, ${s.arrows.length} score field${s.arrows.length > 1 ? 's' : ''} as arrows` : '') +
      (scale ? `, heat map of ${scale}` : ''),
  );
}

/** Arrows scaled so the longest (95th percentile) spans one grid cell. */
function drawArrows(
  ctx: CanvasRenderingContext2D,
  grid: Grid,
  v: Float32Array,
  color: string,
  sx: (x: number) => number,
  sy: (y: number) => number,
  cell: number,
): void {
  const norms: number[] = [];
  for (let k = 0; k + 1 < v.length; k += 2) norms.push(Math.hypot(v[k], v[k + 1]));
  const sorted = norms.filter(Number.isFinite).sort((a, b) => a - b);
  const ref = sorted[Math.floor(sorted.length * 0.95)] || 1;
  const scale = (0.9 * cell) / ref;
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  for (let k = 0; k + 1 < v.length; k += 2) {
    const x0 = grid.points[k];
    const y0 = grid.points[k + 1];
    let dx = v[k] * scale;
    let dy = v[k + 1] * scale;
    const len = Math.hypot(dx, dy);
    if (!Number.isFinite(len) || len === 0) continue;
    if (len > cell) {
      dx *= cell / len;
      dy *= cell / len;
    }
    const ax = sx(x0);
    const ay = sy(y0);
    const bx = sx(x0 + dx);
    const by = sy(y0 + dy);
    ctx.moveTo(ax, ay);
    ctx.lineTo(bx, by);
    const ang = Math.atan2(by - ay, bx - ax);
    ctx.moveTo(bx, by);
    ctx.lineTo(bx - 4 * Math.cos(ang - 0.5), by - 4 * Math.sin(ang - 0.5));
    ctx.moveTo(bx, by);
    ctx.lineTo(bx - 4 * Math.cos(ang + 0.5), by - 4 * Math.sin(ang + 0.5));
  }
  ctx.stroke();
}

/** Kept for callers that only draw particles. */
export function drawParticles(canvas: HTMLCanvasElement, xs: Float32Array, dim: number, means: number[][], view: View): void {
  drawScene(canvas, { particles: xs, dim, means, view });
}

/** 28×28 images (values ~[0,1]) in a square grid. */
export function drawDigits(canvas: HTMLCanvasElement, xs: Float32Array, count: number): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const cols = Math.ceil(Math.sqrt(count));
  const px = 28;
  const img = ctx.createImageData(cols * px, cols * px);
  img.data.fill(255);
  for (let k = 0; k < count; k++) {
    const ox = (k % cols) * px;
    const oy = Math.floor(k / cols) * px;
    for (let p = 0; p < 784; p++) {
      const v = xs[k * 784 + p];
      const c = 255 - Math.max(0, Math.min(255, Math.round((Number.isFinite(v) ? v : 0) * 255)));
      const o = ((oy + Math.floor(p / 28)) * cols * px + ox + (p % 28)) * 4;
      img.data[o] = img.data[o + 1] = img.data[o + 2] = c;
    }
  }
  const tmp = document.createElement('canvas');
  tmp.width = img.width;
  tmp.height = img.height;
  tmp.getContext('2d')!.putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(tmp, 0, 0, canvas.width, canvas.height);
}

/** Line chart of named series (x, y) with a log y axis when every value is positive. */
export function drawLines(canvas: HTMLCanvasElement, series: { name: string; color: string; xs: number[]; ys: number[]; width?: number; dash?: number[] }[], title: string): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width: w, height: h } = canvas;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  const all = series.flatMap((s) => s.ys.filter(Number.isFinite));
  const xsAll = series.flatMap((s) => s.xs);
  ctx.fillStyle = '#333';
  ctx.font = '11px system-ui';
  ctx.fillText(title, 6, 12);
  if (all.length < 1 || xsAll.length < 1) return;
  const log = all.every((v) => v > 0);
  const f = (v: number) => (log ? Math.log10(v) : v);
  let lo = Math.min(...all.map(f));
  let hi = Math.max(...all.map(f));
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const x0 = Math.min(...xsAll);
  const x1 = Math.max(...xsAll, x0 + 1);
  const px = (x: number) => 40 + ((x - x0) / (x1 - x0)) * (w - 50);
  const py = (y: number) => h - 16 - ((f(y) - lo) / (hi - lo)) * (h - 34);
  ctx.fillText((log ? 10 ** hi : hi).toPrecision(3), 2, 26);
  ctx.fillText((log ? 10 ** lo : lo).toPrecision(3), 2, h - 18);
  ctx.fillText(String(x1), w - 40, h - 3);
  if (x0 !== 0) ctx.fillText(String(x0), 40, h - 3);
  series.forEach((s, k) => {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = s.width ?? 1.5;
    ctx.setLineDash(s.dash ?? []);
    ctx.beginPath();
    s.xs.forEach((x, i) => {
      if (!Number.isFinite(s.ys[i])) return;
      if (i === 0) ctx.moveTo(px(x), py(s.ys[i]));
      else ctx.lineTo(px(x), py(s.ys[i]));
    });
    ctx.stroke();
    ctx.fillStyle = s.color;
    // single points (the first chunk of a run) as dots, so the chart is never blank
    if (s.xs.length <= 3) {
      s.xs.forEach((x, i) => {
        if (!Number.isFinite(s.ys[i])) return;
        ctx.beginPath();
        ctx.arc(px(x), py(s.ys[i]), 2.5, 0, 2 * Math.PI);
        ctx.fill();
      });
    }
    ctx.setLineDash([]);
    if (s.name) ctx.fillText(s.name, w - 120, 14 + 12 * k);
  });
}
