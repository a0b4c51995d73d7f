// Scatter plot of particles on a canvas, with the mixture's means marked.

export interface View {
  lo: number;
  hi: number;
}

export function drawParticles(
  canvas: HTMLCanvasElement,
  xs: Float32Array,
  dim: number,
  means: number[][],
  view: View,
): void {
  const ctx = canvas.getContext('2d');
  if (!ctx) return;
  const { width: w, height: h } = canvas;
  const sx = (v: number) => ((v - view.lo) / (view.hi - view.lo)) * w;
  const sy = (v: number) => h - ((v - view.lo) / (view.hi - view.lo)) * h;
  ctx.fillStyle = '#fbfbfd';
  ctx.fillRect(0, 0, w, h);
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
  ctx.fillStyle = 'rgba(40, 80, 200, 0.55)';
  const n = Math.floor(xs.length / dim);
  for (let i = 0; i < n; i++) {
    const x = xs[i * dim];
    const y = dim > 1 ? xs[i * dim + 1] : 0;
    if (!Number.isFinite(x) || !Number.isFinite(y)) continue;
    ctx.fillRect(sx(x) - 1.2, sy(y) - 1.2, 2.4, 2.4);
  }
  ctx.strokeStyle = '#d03030';
  ctx.lineWidth = 2;
  for (const m of means) {
    const cx = sx(m[0]);
    const cy = sy(m.length > 1 ? m[1] : 0);
    ctx.beginPath();
    ctx.moveTo(cx - 5, cy - 5);
    ctx.lineTo(cx + 5, cy + 5);
    ctx.moveTo(cx + 5, cy - 5);
    ctx.lineTo(cx - 5, cy + 5);
    ctx.stroke();
  }
}
