// The NFE–quality frontier panel: every sampler at 10 to 500 score evaluations, driven by the
// lab's mixture's exact score under the lab's SDE, scored by sliced W2 against exact samples
// of the same size, with the exact-vs-exact band: what `scorelab frontier` writes as a chart,
// drawn here point by point as the worker computes them (wasm `frontierPlan`, `frontierPoint`,
// `crate::app::frontier`: one implementation for both).
import { $ } from './page';
import { save } from './downloads';
import type { Settings } from './wasm';

/** Particles per run: the CLI's default, so the page and `scorelab frontier` give the same points. */
export const FRONTIER_N = 2000;

export interface Band { sw_median: number; sw_q99: number; weight_error_median: number; weight_error_q99: number }
export interface FrontierPoint { sampler: string; budget: number; nfe: number; steps: number; sw: number; weight_error: number; non_finite: number }

/** What the panel needs of the page (the Playground). */
export interface FrontierHost {
  remote: { fn<T = unknown>(name: string, ...args: unknown[]): Promise<T> };
  state(): Settings;
  guard(f: () => Promise<unknown>): Promise<void>;
}

/** Each sampler's colour, as the CLI's chart draws it (src/bin/scorelab/frontier.rs). */
export const FRONTIER_COLORS: Record<string, string> = {
  em: '#000000', pc: '#E69F00', ancestral: '#56B4E9', ald: '#009E73', langevin: '#969696',
  'ode-euler': '#8C564B', 'ode-heun': '#BCBD22', 'ode-rk4': '#17BECF', ddim: '#0072B2',
  'ddim-eta1': '#CC79A7', edm: '#D55E00', 'dpmpp-2m': '#9467BD', 'dpmpp-2s': '#28288C',
};

/** The frontier so far: band, points, and what is left. */
export class FrontierRun {
  points: FrontierPoint[] = [];
  constructor(readonly band: Band, readonly total: number, readonly settings: Settings) {}

  /** The best point at a budget (smallest sliced W2 of the finite runs). */
  bestAt(budget: number): FrontierPoint | undefined {
    return this.points.filter((p) => p.budget === budget && p.non_finite === 0).sort((a, b) => a.sw - b.sw)[0];
  }

  csv(): string {
    const b = this.band;
    const head = 'preset,sde,sampler,budget,nfe,steps,sliced_w2,mode_weight_error,non_finite,band_sw_median,band_sw_q99,band_weight_median,band_weight_q99';
    const rows = this.points.map((p) =>
      [this.settings.model, this.settings.sde.kind, p.sampler, p.budget, p.nfe, p.steps, p.sw, p.weight_error, p.non_finite, b.sw_median, b.sw_q99, b.weight_error_median, b.weight_error_q99].join(','));
    return [head, ...rows].join('\n') + '\n';
  }
}

/** Draw the frontier: log-log sliced W2 against NFE, the band shaded, a line per sampler. */
export function drawFrontier(canvas: HTMLCanvasElement, run: FrontierRun): void {
  const ctx = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  const [x0, x1, y0, y1] = [56, w - 130, 12, h - 40];
  const vals = run.points.filter((p) => p.non_finite === 0).map((p) => p.sw).concat([run.band.sw_median, run.band.sw_q99]).filter((v) => v > 0);
  const lo = Math.min(...vals) / 1.5;
  const hi = Math.max(Math.min(Math.max(...vals) * 1.5, lo * 1e6), lo * 10);
  const px = (n: number) => x0 + ((Math.log10(n) - Math.log10(8)) / (Math.log10(650) - Math.log10(8))) * (x1 - x0);
  const py = (v: number) => y1 - ((Math.log10(Math.min(Math.max(v, lo), hi)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (y1 - y0);
  // the band: exact vs exact up to its 99th percentile, its median dashed
  ctx.fillStyle = 'rgba(120,120,120,0.22)';
  ctx.fillRect(x0, py(run.band.sw_q99), x1 - x0, y1 - py(run.band.sw_q99));
  ctx.strokeStyle = '#777';
  ctx.setLineDash([5, 3]);
  ctx.beginPath();
  ctx.moveTo(x0, py(run.band.sw_median));
  ctx.lineTo(x1, py(run.band.sw_median));
  ctx.stroke();
  ctx.setLineDash([]);
  // axes
  ctx.strokeStyle = '#333';
  ctx.fillStyle = '#333';
  ctx.font = '11px sans-serif';
  ctx.beginPath();
  ctx.moveTo(x0, y0);
  ctx.lineTo(x0, y1);
  ctx.lineTo(x1, y1);
  ctx.stroke();
  ctx.textAlign = 'center';
  for (const b of [10, 20, 50, 100, 200, 500]) {
    ctx.fillText(String(b), px(b), y1 + 14);
  }
  ctx.fillText('score evaluations (NFE), log scale', (x0 + x1) / 2, y1 + 30);
  ctx.textAlign = 'right';
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v < lo || v > hi || (m !== 1 && Math.log10(hi / lo) > 2.5)) continue;
      ctx.fillText(v >= 1 ? String(v) : v.toPrecision(1), x0 - 4, py(v) + 4);
    }
  }
  ctx.save();
  ctx.translate(12, (y0 + y1) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = 'center';
  ctx.fillText('sliced W2 to the exact p_ε (log)', 0, 0);
  ctx.restore();
  // one line per sampler, and the legend
  const samplers = [...new Set(run.points.map((p) => p.sampler))];
  ctx.textAlign = 'left';
  samplers.forEach((s, k) => {
    const pts = run.points.filter((p) => p.sampler === s && p.non_finite === 0).sort((a, b) => a.nfe - b.nfe);
    ctx.strokeStyle = ctx.fillStyle = FRONTIER_COLORS[s] ?? '#444';
    ctx.lineWidth = 2;
    ctx.beginPath();
    pts.forEach((p, i) => (i ? ctx.lineTo(px(p.nfe), py(p.sw)) : ctx.moveTo(px(p.nfe), py(p.sw))));
    ctx.stroke();
    for (const p of pts) ctx.fillRect(px(p.nfe) - 2.5, py(p.sw) - 2.5, 5, 5);
    ctx.fillRect(x1 + 14, y0 + 4 + k * 15, 16, 3);
    ctx.fillStyle = '#333';
    ctx.fillText(s, x1 + 36, y0 + 9 + k * 15);
  });
  ctx.lineWidth = 1;
  canvas.setAttribute('aria-label', `sliced W2 against score evaluations for ${samplers.length} samplers, ${run.points.length} of ${run.total} runs; band: exact vs exact up to ${run.band.sw_q99.toFixed(3)}`);
}

/** What the finished frontier says, in one line. */
export function frontierSummary(run: FrontierRun): string {
  const best = run.bestAt(100);
  if (!best) return '';
  const inside = best.sw <= run.band.sw_q99 ? 'inside the exact-vs-exact band' : 'outside the band';
  const at20 = (s: string) => run.points.find((p) => p.sampler === s && p.budget === 20)?.sw;
  const [dpm, em] = [at20('dpmpp-2m'), at20('em')];
  const cmp = dpm !== undefined && em !== undefined ? ` At 20 NFE DPM-Solver++(2M) reaches ${dpm.toFixed(3)}, Euler–Maruyama ${em.toFixed(3)}.` : '';
  return `Best at 100 NFE: ${best.sampler} (sliced W2 ${best.sw.toFixed(3)}, ${inside}, q99 ${run.band.sw_q99.toFixed(3)}).${cmp}`;
}

/** Wire the panel's buttons. */
export function bindFrontier(host: FrontierHost): void {
  let run: FrontierRun | null = null;
  let stop = false;
  let running = false;
  const info = $('frontierInfo');
  const canvas = $<HTMLCanvasElement>('frontierPlot');
  $('frontierRun').onclick = () =>
    host.guard(async () => {
      if (running) throw new Error('frontier: it is running; stop it first');
      const settings = host.state();
      if (settings.model.startsWith('weights:')) {
        throw new Error('frontier: it runs on an exact mixture (a preset or a drawn mixture), whose score is exact; choose one in the model menu');
      }
      const plan = await host.remote.fn<{ band: Band; plan: { sampler: string; budget: number }[] }>('frontierPlan', settings, FRONTIER_N);
      run = new FrontierRun(plan.band, plan.plan.length, settings);
      running = true;
      stop = false;
      canvas.hidden = false;
      $<HTMLButtonElement>('frontierStop').disabled = false;
      try {
        for (const [i, p] of plan.plan.entries()) {
          if (stop) break;
          info.textContent = `${i}/${plan.plan.length} runs: ${p.sampler} at ${p.budget} NFE…`;
          run.points.push(await host.remote.fn<FrontierPoint>('frontierPoint', settings, FRONTIER_N, p.sampler, p.budget));
          drawFrontier(canvas, run);
        }
        info.textContent = stop
          ? `stopped after ${run.points.length}/${run.total} runs`
          : `${run.total} runs done. ${frontierSummary(run)}`;
      } finally {
        running = false;
        $<HTMLButtonElement>('frontierStop').disabled = true;
      }
    });
  $('frontierStop').onclick = () => {
    stop = true;
  };
  $('frontierCsv').onclick = () =>
    host.guard(async () => {
      if (!run || !run.points.length) throw new Error('frontier .csv: nothing computed yet; press "run the frontier" first');
      save('scorelab-frontier.csv', new TextEncoder().encode(run.csv()), 'text/csv');
    });
}
