// Drawing training data on the lab's plot: in draw mode a click adds one point and a drag
// adds points every DRAW_SPACING along the stroke, with a little spread across it, so a
// stroke becomes a density of even thickness whatever the pointer's speed. Each point
// carries the class chosen when it was drawn (its colour): a class-conditional network
// learns from them.
import { $, VIEW } from './page';
import { CLASS_COLORS, CLASS_NAMES } from './plot';

/** Distance between two drawn points along a stroke (plot units). */
const DRAW_SPACING = 0.08;

/** What drawing needs of the page (the Playground). */
export interface DrawingHost {
  drawMode: boolean;
  /** The drawn points, n·2 coordinates, and each one's class. */
  drawn: number[];
  drawnLabels: number[];
  /** The class new points get. */
  drawClass: number;
  trainingData: string;
  readonly trainingNow: boolean;
  training: { free(): void } | null;
  showError(msg: string): void;
  resetTraining(note: string): void;
  refresh(read?: boolean): Promise<void>;
}

/** Wire the draw-mode box, the clear button and the plot's pointer events. */
export function bindDrawing(host: DrawingHost): void {
  const box = $<HTMLInputElement>('drawMode');
  box.onchange = () => {
    host.drawMode = box.checked;
    if (host.drawMode) {
      host.trainingData = 'drawn';
      $<HTMLSelectElement>('trainData').value = 'drawn';
      host.resetTraining('drag on the plot to draw data, then train');
    }
  };
  const cls = $<HTMLSelectElement>('drawClass');
  CLASS_COLORS.forEach((color, k) => {
    const o = new Option(`class ${k} (${CLASS_NAMES[k]})`, String(k), false, k === host.drawClass);
    o.style.color = color;
    cls.add(o);
  });
  cls.onchange = () => {
    host.drawClass = Number(cls.value);
  };
  $('clearDrawn').onclick = () => {
    host.drawn = [];
    host.drawnLabels = [];
    host.resetTraining('drawing cleared');
    void host.refresh(false);
  };
  const canvas = $<HTMLCanvasElement>('plot');
  let down = false;
  /** Where the last point went: a drag adds a point every DRAW_SPACING along the stroke. */
  let last: [number, number] | null = null;
  const at = (e: PointerEvent): [number, number] => {
    const r = canvas.getBoundingClientRect();
    return [VIEW.lo + ((e.clientX - r.left) / r.width) * (VIEW.hi - VIEW.lo), VIEW.hi - ((e.clientY - r.top) / r.height) * (VIEW.hi - VIEW.lo)];
  };
  const push = (x: number, y: number) => {
    if (host.drawn.length < 200_000) {
      host.drawn.push(x, y);
      host.drawnLabels.push(host.drawClass);
    }
  };
  canvas.addEventListener('pointerdown', (e) => {
    if (!host.drawMode) return;
    if (host.trainingNow) {
      host.showError('drawn data: training is running; stop it (cancel) before drawing more points');
      return;
    }
    down = true;
    // one click: one point, where the pointer is
    last = at(e);
    push(...last);
    void host.refresh(false);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!(host.drawMode && down && last)) return;
    const [x, y] = at(e);
    const d = Math.hypot(x - last[0], y - last[1]);
    if (d < DRAW_SPACING) return;
    // points every DRAW_SPACING along the segment, with a little spread across it, so a
    // stroke becomes a density of even thickness whatever the pointer's speed
    const steps = Math.floor(d / DRAW_SPACING);
    for (let k = 1; k <= steps; k++) {
      const f = (k * DRAW_SPACING) / d;
      const a = Math.random() * 2 * Math.PI;
      const rad = 0.1 * Math.sqrt(Math.random());
      push(last[0] + f * (x - last[0]) + rad * Math.cos(a), last[1] + f * (y - last[1]) + rad * Math.sin(a));
    }
    const f = (steps * DRAW_SPACING) / d;
    last = [last[0] + f * (x - last[0]), last[1] + f * (y - last[1])];
    void host.refresh(false);
  });
  window.addEventListener('pointerup', () => {
    if (down) {
      down = false;
      host.training?.free();
      host.training = null;
      $('trainInfo').textContent = `${host.drawn.length / 2} drawn points`;
      void host.refresh(false);
    }
  });
}
