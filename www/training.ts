// Training the lab's network: a spec from the training panel's choices, k steps in chunks
// of TRAIN_CHUNK in the training worker (a loss point per chunk; cancel stops between
// chunks and the network keeps its steps), a WebGPU device lost mid-run continued on the
// CPU from the state kept after the last chunk, and auto-train.
import { $ } from './page';
import { writeHash, type HashState } from './state';
import { drawLines } from './plot';
import { Cancelled, DeviceLost, type Remote, type Session, type Settings, type Training } from './wasm';

/** Training steps per call into the worker (one loss point each). */
const TRAIN_CHUNK = 25;

/** What training needs of the page (the Playground): the panel's choices and the run's state. */
export interface TrainingHost {
  readonly trainRemote: Remote;
  readonly session: Session;
  state(): Settings;
  training: Training | null;
  /** The spec the training was created with, and its last state while it trains on WebGPU
   * (taken after every chunk): a lost device continues from it on the CPU. */
  trainingSpec: Record<string, unknown> | null;
  trainingSnapshot: Uint8Array | null;
  trainingDeviceLost: DeviceLost | null;
  trainBusy: Promise<unknown>;
  /** Set by cancel(): the running train(k) stops after its current chunk. */
  stopTraining: boolean;
  trainingNow: boolean;
  gpuLost: boolean;
  trainingData: string;
  objective: string;
  lossHistory: { step: number; loss: number }[];
  stepsPerSecond: number;
  autoTrain: boolean;
  drawn: number[];
  drawnLabels: number[];
  /** Train a class-conditional network on the data's classes. */
  conditional: boolean;
  uploaded: { name: string; points: Float32Array } | null;
  uploadRefused: string | null;
  mixture: Record<string, unknown> | null;
  hash: HashState;
  namedTrainingSets(): string[];
  updateCancel(): void;
  showNote(msg: string): void;
  showError(msg: string): void;
}

/** The `data` / `points` of a training spec for the chosen training data. */
export function trainingSource(host: TrainingHost): { data: string; points?: number[]; labels?: number[] } {
  if (host.trainingData === 'drawn') {
    if (host.drawn.length < 4) throw new Error('drawn data: draw at least 2 points (tick "draw data" and drag on the plot)');
    // each drawn point's class (the class its stroke was drawn with) for a conditional network
    return { data: 'drawn', points: host.drawn.slice(), ...(host.conditional ? { labels: host.drawnLabels.slice() } : {}) };
  }
  if (host.trainingData === 'uploaded') {
    if (!host.uploaded) throw new Error(host.uploadRefused ? `uploaded data: ${host.uploadRefused}; choose a valid .npy or .csv file, or another data set` : 'uploaded data: choose a .npy or .csv file first');
    return { data: host.uploaded.name, points: Array.from(host.uploaded.points) };
  }
  if (host.trainingData === 'mixture') {
    if (!host.mixture) throw new Error('mixture data: load a mixture .json first');
    return { data: 'mixture', mixture: host.mixture } as { data: string };
  }
  return { data: host.trainingData };
}

/** Run training work one call at a time, apart from the sampler's queue. */
export function trainSerial<T>(host: TrainingHost, f: () => Promise<T>): Promise<T> {
  const next = host.trainBusy.then(f, f);
  host.trainBusy = next.catch(() => undefined);
  return next;
}

/** Train k steps of the page's network (created on first use from the training panel), in
 * chunks of at most TRAIN_CHUNK steps: the loss curve gets a point per chunk (from the
 * first chunk on), and cancel() stops training between two chunks (the network keeps the
 * steps it made). */
export async function train(host: TrainingHost, k: number): Promise<number> {
  return trainSerial(host, async () => {
    if (!host.training) {
      const s = host.state();
      host.trainingSpec = {
        ...trainingSource(host),
        // flow matching is defined on the linear path; a loaded network's SDE is not the lab's to train on
        sde: host.objective === 'flow-matching' ? { kind: 'linear' } : s.model.startsWith('weights:') ? { kind: 'vp' } : s.sde,
        hidden: 128,
        layers: 3,
        objective: host.objective,
        conditional: host.conditional,
        train: { batch: 256, lr: 0.002, warmup: 50, seed: s.seed },
      };
      host.trainingSnapshot = null;
      host.training = await host.trainRemote.createTraining(host.gpuLost ? 'cpu' : host.session.backend, host.trainingSpec);
      host.lossHistory = [];
    }
    let training = host.training;
    host.stopTraining = false;
    host.trainingNow = true;
    host.updateCancel();
    try {
      let loss = NaN;
      for (let left = k; left > 0; ) {
        if (host.stopTraining) throw new Cancelled(`training (stopped at step ${host.lossHistory.at(-1)?.step ?? 0}; the network is kept)`);
        const n = Math.min(left, TRAIN_CHUNK);
        let r;
        try {
          r = await training.train(n);
          if (training.backend === 'webgpu') host.trainingSnapshot = await training.checkpoint();
        } catch (e) {
          // lost during the chunk, or earlier while idle (then the call finds its worker
          // gone); a WebGPU worker that trapped is treated alike (a lost device can make the
          // module fail before the browser reports the loss)
          const trapped = !training.alive && !(e instanceof Cancelled) ? new DeviceLost('training', `the WebGPU worker failed (${(e as Error).message})`) : null;
          const lost = e instanceof DeviceLost ? e : (host.trainingDeviceLost ?? trapped);
          if (!lost || training.backend !== 'webgpu') throw e;
          training = await trainOnCpuAfter(host, lost);
          continue; // the chunk again, on the CPU
        }
        left -= n;
        loss = r.loss;
        host.lossHistory.push({ step: r.step, loss: r.loss });
        host.stepsPerSecond = r.steps_per_second;
        $('trainInfo').textContent = `step ${r.step}   loss ${r.loss.toFixed(4)}   ${r.steps_per_second.toFixed(1)} steps/s (${training.backend})`;
        drawLines($('lossPlot'), [{ name: host.objective, color: '#2050c0', xs: host.lossHistory.map((h) => h.step), ys: host.lossHistory.map((h) => h.loss) }], 'training loss');
      }
      return loss;
    } finally {
      host.trainingNow = false;
      host.updateCancel();
    }
  });
}

/** The training's WebGPU device was lost: the same run continues on the CPU from the
 * state kept after the last chunk (from step 0 if none was finished), in a new worker. */
async function trainOnCpuAfter(host: TrainingHost, e: DeviceLost): Promise<Training> {
  host.gpuLost = true;
  const training = await host.trainRemote.createTraining('cpu', host.trainingSpec!);
  const step = host.trainingSnapshot ? await training.restore(host.trainingSnapshot) : 0;
  host.trainingSnapshot = null;
  host.trainingDeviceLost = null;
  host.training = training;
  host.lossHistory = host.lossHistory.filter((h) => h.step <= step);
  host.showNote(`${e.message}; training continues on the CPU from step ${step}, the state kept after its last chunk (nothing trained is lost)`);
  return training;
}

/** A new network will be trained: the old one is freed, the note says why, the link keeps
 * the panel's choice. */
export function resetTraining(host: TrainingHost, note: string): void {
  host.training?.free();
  host.training = null;
  host.lossHistory = [];
  $('trainInfo').textContent = note;
  // the training panel's choice travels in the link (named data sets only; defaults omitted)
  const named = host.namedTrainingSets().includes(host.trainingData);
  host.hash.data = named && host.trainingData !== 'ring8' ? host.trainingData : null;
  host.hash.objective = host.objective !== 'dsm' ? host.objective : null;
  host.hash.conditional = host.conditional;
  writeHash(host.hash);
}

/** Train 50 steps at a time while "auto-train" is ticked. */
export async function trainLoop(host: TrainingHost): Promise<void> {
  while (host.autoTrain) {
    try {
      await train(host, 50);
    } catch (e) {
      host.autoTrain = false;
      $<HTMLInputElement>('autoTrain').checked = false;
      host.showError((e as Error).message);
    }
    await new Promise((r) => setTimeout(r, 0));
  }
}
