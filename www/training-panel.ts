// The lab's training panel: which data (a toy set, a 2-D preset, your mixture, points drawn
// on the plot or an uploaded file), which objective, train / auto-train, use the trained
// network in the lab, download it, the shipped toy models, files chosen or dropped on the
// page, and the models saved in this browser (IndexedDB). The training itself (chunks, the
// loss curve, a lost WebGPU device) is the page's `train(k)`.
import { addChoices, type Choices } from './controls';
import { $, VIEW } from './page';
import { drawScene } from './plot';
import type { Preset } from './wasm';
import { saveModel, listModels, loadModel } from './store';

/** What the training panel needs of the page (the Playground). */
export interface TrainingPanelHost {
  trainingData: string;
  objective: string;
  /** Train a class-conditional network (the data's classes). */
  conditional: boolean;
  readonly objectives: string[];
  /** The library's choices, for the objectives' descriptions. */
  readonly choices: Choices;
  readonly toySets: string[];
  autoTrain: boolean;
  readonly training: { export(): Promise<Uint8Array> } | null;
  namedTrainingSets(): string[];
  resetTraining(note: string): void;
  guard(f: () => Promise<unknown>): Promise<void>;
  train(k: number): Promise<number>;
  trainLoop(): Promise<void>;
  trainSerial<T>(f: () => Promise<T>): Promise<T>;
  loadWeights(name: string, bytes: Uint8Array): Promise<void>;
  openWeights(name: string, bytes: Uint8Array): Promise<void>;
  openDemo(name: string): Promise<void>;
  openFile(f: File): Promise<void>;
  readonly remote: { fn<T>(name: string, ...args: unknown[]): Promise<T> };
  readonly presets: Preset[];
  readonly drawn: number[];
  readonly uploaded: { name: string; points: Float32Array } | null;
}

/** The training data's preview beside the menu: 500 points of a toy set or preset, or the
 * points drawn or uploaded. */
export async function previewData(host: TrainingPanelHost): Promise<void> {
  const c = $<HTMLCanvasElement>('dataPreview');
  const name = host.trainingData;
  let points: Float32Array;
  if (name === 'drawn') points = Float32Array.from(host.drawn);
  else if (name === 'uploaded') points = host.uploaded?.points ?? new Float32Array();
  else if (name === 'mixture') points = new Float32Array();
  else points = await host.remote.fn<Float32Array>('dataPreview', name, 500);
  const means = host.presets.find((p) => p.name === name)?.mixture.means ?? [];
  drawScene(c, { particles: points, dim: 2, means, view: VIEW, axes: false });
  c.setAttribute('aria-label', `a preview of the training data ${name}: ${points.length / 2} points`);
}

/** Wire the panel's controls and the page's file drop. */
export function bindTrainingPanel(host: TrainingPanelHost): void {
  const sel = $<HTMLSelectElement>('trainData');
  const options = host.namedTrainingSets().concat(['drawn', 'uploaded']);
  for (const o of options) sel.add(new Option(o === 'drawn' ? 'points drawn on the plot' : o === 'uploaded' ? 'uploaded file' : o, o, false, o === host.trainingData));
  sel.onchange = () => {
    host.trainingData = sel.value;
    host.resetTraining('a new network will be trained on ' + sel.value);
    void host.guard(() => previewData(host));
  };
  // each option's description as its tooltip: the toy sets' and the presets' own
  void host.guard(async () => {
    const sets = await host.remote.fn<{ name: string; description: string }[]>('toySets');
    const about = new Map<string, string>([...sets, ...host.presets].map((t): [string, string] => [t.name, t.description]));
    about.set('drawn', 'points you draw on the plot (tick "draw data")');
    about.set('uploaded', 'points from a .npy or .csv file');
    for (const o of Array.from(sel.options)) o.title = about.get(o.value) ?? '';
    await previewData(host);
  });
  const obj = $<HTMLSelectElement>('objective');
  addChoices(obj, host.choices.objective, host.objective);
  obj.onchange = () => {
    host.objective = obj.value;
    host.resetTraining(`a new network will be trained with ${obj.value}` + (obj.value === 'flow-matching' ? ' (a velocity network on the linear path x_t = (1 − t) x₀ + t z, whatever the lab\'s SDE)' : ''));
  };
  const cond = $<HTMLInputElement>('trainConditional');
  cond.checked = host.conditional;
  cond.onchange = () => {
    host.conditional = cond.checked;
    host.resetTraining(cond.checked ? 'a new class-conditional network will be trained on the classes of ' + host.trainingData + " (a mixture's components, drawn points' classes); then choose a class in the lab" : 'a new (unconditional) network will be trained');
  };
  $('trainBtn').onclick = () => host.guard(() => host.train(100));
  const auto = $<HTMLInputElement>('autoTrain');
  auto.onchange = () => {
    host.autoTrain = auto.checked;
    if (host.autoTrain) void host.trainLoop();
  };
  $('useTrained').onclick = () =>
    host.guard(async () => {
      if (!host.training) throw new Error('train first: press "train 100 steps"');
      const bytes = await host.trainSerial(() => host.training!.export());
      const name = `${host.trainingData}-${host.objective}${host.conditional ? '-cond' : ''}-browser`;
      await saveModel(name, bytes).catch(() => undefined);
      await refreshSaved();
      await host.loadWeights(name, bytes);
    });
  $('downloadBtn').onclick = () =>
    host.guard(async () => {
      if (!host.training) throw new Error('train first: press "train 100 steps"');
      const bytes = await host.trainSerial(() => host.training!.export());
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([bytes as BlobPart], { type: 'application/octet-stream' }));
      a.download = `${host.trainingData}-${host.objective}.safetensors`;
      a.click();
    });
  // The shipped toy models (models/toy/<set>-<sde>.safetensors, copied next to the page).
  const shipped = $<HTMLSelectElement>('shipped');
  for (const set of host.toySets) for (const sde of ['vp', 've']) shipped.add(new Option(`${set} (${sde.toUpperCase()})`, `${set}-${sde}`));
  shipped.add(new Option('MNIST U-Net (VE σ = 25): opens the image lab', 'mnist'));
  shipped.onchange = () =>
    host.guard(async () => {
      const name = shipped.value;
      if (!name) return;
      if (name === 'mnist') {
        shipped.value = '';
        await host.openDemo('images');
        return;
      }
      const res = await fetch(`models/toy/${name}.safetensors`);
      if (!res.ok) throw new Error(`models/toy/${name}.safetensors: ${res.status} ${res.statusText} (the page serves models/ from its build)`);
      await host.loadWeights(name, new Uint8Array(await res.arrayBuffer()));
    });
  $<HTMLInputElement>('weightsFile').onchange = (e) =>
    host.guard(async () => {
      const f = (e.target as HTMLInputElement).files?.[0];
      if (f) await host.openFile(f);
    });
  $<HTMLInputElement>('dataFile').onchange = (e) =>
    host.guard(async () => {
      const f = (e.target as HTMLInputElement).files?.[0];
      if (f) await host.openFile(f);
    });
  const saved = $<HTMLSelectElement>('saved');
  saved.onchange = () =>
    host.guard(async () => {
      if (!saved.value) return;
      const bytes = await loadModel(saved.value);
      if (!bytes) throw new Error(`saved model '${saved.value}' is gone from this browser's storage`);
      await host.openWeights(saved.value, bytes);
    });
  void refreshSaved();
  // Files dropped anywhere on the page: weight files load, point files become training data.
  document.addEventListener('dragover', (e) => e.preventDefault());
  document.addEventListener('drop', (e) => {
    e.preventDefault();
    const f = e.dataTransfer?.files?.[0];
    if (f) void host.guard(() => host.openFile(f));
  });
}

/** The models saved in this browser, listed in the panel's menu. */
export async function refreshSaved(): Promise<void> {
  const saved = $<HTMLSelectElement>('saved');
  const names = await listModels().catch(() => [] as string[]);
  saved.innerHTML = '';
  saved.add(new Option(names.length ? '(choose)' : '(none yet)', ''));
  for (const n of names) saved.add(new Option(n, n));
}
