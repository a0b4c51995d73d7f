// Files a visitor hands the lab (chosen or dropped): a .safetensors weight file goes where
// it can run, .npy / .csv points become training data (read by the library's one reader,
// in the lab's worker), a .json mixture becomes the model `mixture` (and training data).
import { $ } from './page';
import type { Settings } from './wasm';

/** What file handling needs of the page (the Playground). */
export interface FilesHost {
  remote: { fn<T>(name: string, ...args: unknown[]): Promise<T> };
  state(): Settings;
  setState(s: Settings): Promise<void>;
  mixture: Record<string, unknown> | null;
  readonly trainingNow: boolean;
  trainingData: string;
  uploaded: { name: string; points: Float32Array } | null;
  uploadRefused: string | null;
  resetTraining(note: string): void;
  openWeights(name: string, bytes: Uint8Array): Promise<void>;
}

/** Sample from a mixture of one's own (validated by the core: errors name the field). */
export async function loadMixture(host: FilesHost, spec: unknown, name = 'mixture'): Promise<void> {
  const m = spec as { means?: unknown };
  if (!spec || typeof spec !== 'object' || !Array.isArray(m.means)) {
    throw new Error(`${name}: not a mixture; accepted: {"weights":[K],"means":[[x,y]..],"covs":[..]} (as for --model gmm:FILE)`);
  }
  const d = Array.isArray(m.means[0]) ? (m.means[0] as unknown[]).length : 0;
  if (d !== 2) throw new Error(`${name}: the lab draws 2-D mixtures, this one has d = ${d} (scorelab sample --config takes any dimension)`);
  const s = host.state();
  delete s.weights;
  try {
    await host.setState({ ...s, model: 'mixture', mixture: spec });
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
  host.mixture = spec as Record<string, unknown>;
  addMixtureData(host);
}

/** "your mixture" as a choice of training data, once one was loaded. */
export function addMixtureData(host: Pick<FilesHost, 'mixture'>): void {
  const sel = $<HTMLSelectElement>('trainData');
  if (host.mixture && !Array.from(sel.options).some((o) => o.value === 'mixture')) sel.add(new Option('your mixture (loaded .json)', 'mixture'));
}

/** 2-D points from a .npy or .csv file's bytes, read by the library's one reader (in the
 * lab's worker, as the CLI reads them): n·2 values, or one error naming the file. */
export function parsePoints(host: Pick<FilesHost, 'remote'>, name: string, bytes: Uint8Array): Promise<Float32Array> {
  return host.remote.fn<Float32Array>('parsePoints', name, bytes);
}

/** A dropped or chosen file: .safetensors loads as a model, .npy/.csv as training points,
 * .json as a mixture to sample from (and train on). */
export async function openFile(host: FilesHost, f: File): Promise<void> {
  const name = f.name;
  if (/\.json$/i.test(name)) {
    if (f.size > 5 * 1024 * 1024) throw new Error(`${name}: too large (${f.size} bytes); mixture files are at most 5 MiB`);
    let spec: unknown;
    try {
      spec = JSON.parse(await f.text());
    } catch (e) {
      throw new Error(`${name}: not JSON (${(e as Error).message}); a mixture is {"weights":[K],"means":[[x,y]..],"covs":[..]}`);
    }
    await loadMixture(host, spec, name);
    return;
  }
  if (/\.safetensors$/i.test(name)) {
    if (f.size > 64 * 1024 * 1024) throw new Error(`${name}: too large (${f.size} bytes); weight files are at most 64 MiB`);
    await host.openWeights(name.replace(/\.safetensors$/i, ''), new Uint8Array(await f.arrayBuffer()));
    return;
  }
  if (/\.(npy|csv)$/i.test(name)) {
    if (host.trainingNow) throw new Error(`${name}: training is running; stop it (cancel) before changing its data`);
    let points: Float32Array;
    try {
      if (f.size > 50 * 1024 * 1024) throw new Error(`${name}: too large (${f.size} bytes); point files are at most 50 MiB`);
      points = await parsePoints(host, name, new Uint8Array(await f.arrayBuffer()));
    } catch (e) {
      // the refused file is the chosen data now: training says why instead of silently
      // using the set chosen before
      host.uploaded = null;
      host.uploadRefused = (e as Error).message;
      host.trainingData = 'uploaded';
      $<HTMLSelectElement>('trainData').value = 'uploaded';
      host.resetTraining(`refused: ${host.uploadRefused}`);
      throw e;
    }
    host.uploadRefused = null;
    host.uploaded = { name, points };
    host.trainingData = 'uploaded';
    $<HTMLSelectElement>('trainData').value = 'uploaded';
    host.resetTraining(`${name}: ${points.length / 2} points; press "train" to fit a network to them`);
    return;
  }
  throw new Error(`${name}: unsupported file type; accepted: .safetensors (a model), .json (a mixture), .npy or .csv (2-D points)`);
}
