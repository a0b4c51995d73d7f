// Taking things away from the lab: the plot as PNG (what is shown, axes and colour bar
// included), the particles as .npy (float32 [n, d], what `scorelab likelihood --data` and
// numpy read), the recorded steps as an animated GIF (gifenc), and the settings as a file
// for `scorelab sample --config FILE` (which runs to the same particles). A download of a
// running or empty state gets a message instead of a file.
import { GIFEncoder, applyPalette, quantize } from 'gifenc';
import { $, VIEW } from './page';
import { drawScene } from './plot';
import type { Settings, StepInfo } from './wasm';

/** What the downloads need of the page (the Playground). */
export interface DownloadsHost {
  readonly playing: boolean;
  readonly particles: Float32Array;
  readonly frames: Float32Array[];
  readonly frameInfo: (StepInfo | null)[];
  readonly session: { dim(): number };
  state(): Settings;
  /** The mixture means the plot marks. */
  meansShown(): number[][];
  guard(f: () => Promise<unknown>): Promise<void>;
  showNote(msg: string): void;
}

/** A float32 .npy file (format 1.0, little-endian, C order) of `shape`. */
export function npyBytes(data: Float32Array, shape: number[]): Uint8Array {
  const dims = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': ${dims}, }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const body = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  out.set(body, 10 + header.length);
  return out;
}

/** Offer `bytes` as a file download. */
export function save(name: string, bytes: Uint8Array | Blob, type: string): void {
  const blob = bytes instanceof Blob ? bytes : new Blob([bytes as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The settings as `scorelab sample --config` reads them, and what to tell about them. */
export function configFile(s: Settings): { json: string; note: string } {
  const c: Record<string, unknown> = JSON.parse(JSON.stringify(s));
  let note = 'run it with: scorelab sample --config scorelab-settings.json --out samples.npy';
  const model = String(c.model);
  if (model.startsWith('weights:')) {
    const name = model.slice('weights:'.length);
    c.model = name.endsWith('.safetensors') ? name : `${name}.safetensors`;
    note += ` (with the network's weight file ${c.model} beside it: download it from the training panel)`;
  }
  return { json: JSON.stringify(c, null, 2) + '\n', note };
}

/** The recorded frames as an animated GIF: at most `maxFrames` (evenly spaced, the last
 * included), drawn `size` pixels square with the mixture's means, the last frame held. */
export function gifBytes(frames: Float32Array[], means: number[][], size = 360, maxFrames = 80): Uint8Array {
  const c = document.createElement('canvas');
  c.width = c.height = size;
  const ctx = c.getContext('2d', { willReadFrequently: true })!;
  const picks: number[] = [];
  const stride = Math.max(1, (frames.length - 1) / (maxFrames - 1));
  for (let k = 0; k < frames.length - 1; k += stride) picks.push(Math.round(k));
  picks.push(frames.length - 1);
  const draw = (i: number) => {
    drawScene(c, { particles: frames[i], dim: 2, means, view: VIEW });
    return ctx.getImageData(0, 0, size, size).data;
  };
  // one palette for every frame (the marks' colours do not change), from the last frame
  const palette = quantize(draw(frames.length - 1), 64);
  const gif = GIFEncoder();
  [...new Set(picks)].forEach((i, k, all) => {
    const index = applyPalette(draw(i), palette);
    gif.writeFrame(index, size, size, { palette: k === 0 ? palette : undefined, delay: k === all.length - 1 ? 1500 : 60 });
  });
  gif.finish();
  return gif.bytes();
}

export function bindDownloads(host: DownloadsHost): void {
  const ready = (what: string) => {
    if (host.playing) throw new Error(`${what}: the sampler is running; pause it first`);
  };
  $('dlPng').onclick = () =>
    host.guard(async () => {
      ready('plot .png');
      if (host.session.dim() !== 2) throw new Error('plot .png: this model is not 2-D; the lab draws 2-D models only');
      const blob = await new Promise<Blob | null>((r) => $<HTMLCanvasElement>('plot').toBlob(r, 'image/png'));
      if (!blob) throw new Error('plot .png: the browser could not encode the plot');
      save('scorelab-plot.png', blob, 'image/png');
    });
  $('dlNpy').onclick = () =>
    host.guard(async () => {
      ready('particles .npy');
      const d = host.session.dim();
      const p = host.particles;
      if (!p.length) throw new Error('particles .npy: no particles yet; press step or play first');
      save('scorelab-particles.npy', npyBytes(p, [p.length / d, d]), 'application/octet-stream');
    });
  $('dlGif').onclick = () =>
    host.guard(async () => {
      ready('animation .gif');
      if (host.session.dim() !== 2) throw new Error('animation .gif: this model is not 2-D');
      if (host.frames.length < 2) throw new Error('animation .gif: nothing recorded yet; press play or step first, then save');
      save('scorelab-run.gif', gifBytes(host.frames, host.meansShown()), 'image/gif');
    });
  $('dlConfig').onclick = () =>
    host.guard(async () => {
      const { json, note } = configFile(host.state());
      save('scorelab-settings.json', new TextEncoder().encode(json), 'application/json');
      host.showNote(note);
    });
}
