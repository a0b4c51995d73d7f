// The lab's settings panel: one input per field of the current settings (model, SDE and
// its parameters, sampler and its parameters, particles, seed, denoise), rebuilt whenever
// the settings change; a change goes through `setState`, so a bad value gets the library's
// message and the old settings stay.
import { $ } from './page';
import type { Preset, Settings } from './wasm';

/** One choice of a setting, from the library's registries: its name, what it is, its settings. */
export interface Choice {
  name: string;
  description: string;
  params: { name: string; description: string }[];
}

/** The choices of each setting, read from the library (wasm `choices()`), not a copy. */
export interface Choices {
  sde: Choice[];
  sampler: Choice[];
  predictor: Choice[];
  corrector: Choice[];
  solver: Choice[];
  schedule: Choice[];
  objective: Choice[];
}

/** A select's options, each with its description as a tooltip. */
export function addChoices(el: HTMLSelectElement, choices: Choice[], value: string): void {
  for (const c of choices) {
    const o = new Option(c.name, c.name, false, c.name === value);
    o.title = c.description;
    el.add(o);
  }
}

/** What the settings panel needs of the page (the Playground). */
export interface ControlsHost {
  state(): Settings;
  setState(s: Settings): Promise<void>;
  guard(f: () => Promise<unknown>): Promise<void>;
  presets: Preset[];
  choices: Choices;
  /** Networks loaded into the lab (`weights:NAME`). */
  loadedNets: string[];
  /** A loaded class-conditional network's number of classes (`weights:NAME` → classes). */
  netClasses: Map<string, number>;
  mixture: Record<string, unknown> | null;
  addMixtureData(): void;
  updateOverlayControls(): void;
  hash: { hide: string[] };
}

/** Rebuild the controls from the current settings (one input per field). */
export function buildControls(host: ControlsHost): void {
  const s = host.state();
  if (s.model === 'mixture' && s.mixture) {
    host.mixture = s.mixture; // from a link
    host.addMixtureData();
  }
  const form = $('controls');
  form.innerHTML = '';
  let section = '';
  const row = (label: string, el: HTMLElement, help = '') => {
    const l = document.createElement('label');
    l.textContent = label;
    if (help) {
      l.title = help;
      el.title = help;
    }
    l.appendChild(el);
    // per-control hiding (hash hide=sampler,seed,...): a section hides its parameters
    if (!label.startsWith('  ')) section = label === 'SDE' ? 'sde' : label;
    l.dataset.field = section;
    l.hidden = host.hash.hide.includes(section);
    form.appendChild(l);
  };
  const select = (options: Choice[], value: string, on: (v: string) => Settings) => {
    const el = document.createElement('select');
    addChoices(el, options, value);
    el.onchange = () => host.guard(() => host.setState(on(el.value)));
    return el;
  };
  const number = (field: string, value: number, on: (v: number) => Settings) => {
    const el = document.createElement('input');
    el.type = 'number';
    el.step = 'any';
    el.value = String(value);
    el.onchange = () =>
      host.guard(async () => {
        // an empty or unreadable field is not 0: say so, and show the value in force again
        const text = el.value.trim();
        if (text === '' || !Number.isFinite(Number(text))) {
          el.value = String(value);
          throw new Error(`invalid ${field}: ${text === '' ? 'empty' : `'${text}'`}; accepted: a number (it stays ${value})`);
        }
        await host.setState(on(Number(text)));
      });
    return el;
  };
  const clone = (): Settings => JSON.parse(JSON.stringify(s));
  const models: Choice[] = host.presets
    .map((p): Choice => ({ name: p.name, description: p.description, params: [] }))
    .concat((host.mixture ? ['mixture'] : []).concat(host.loadedNets).map((name) => ({ name, description: '', params: [] })));
  const about = models.find((m) => m.name === s.model)?.description;
  row("model", select(models, s.model, (v) => {
    const c: Settings = { ...clone(), model: v };
    delete c.weights;
    if (v === 'mixture') c.mixture = host.mixture;
    else delete c.mixture;
    delete c.guidance; // classes are the model's own
    return c;
  }), `the score model s(x, t): an exact Gaussian mixture (its score and density in closed form) or a trained network${about ? `; this one: ${about}` : ''}`);
  // classifier-free guidance: a mixture's class is a component, a conditional network's a label
  const classes = classesOf(host, s);
  if (classes.length > 0) {
    const el = document.createElement('select');
    el.id = 'labClass';
    const none = new Option('none', '', false, !s.guidance);
    none.title = 'no guidance: the score s(x, t) of the whole model';
    el.add(none);
    const word = s.model.startsWith('weights:') ? 'class' : 'component';
    classes.forEach((about, k) => {
      const o = new Option(`${word} ${k}`, String(k), false, s.guidance?.class === k);
      o.title = about;
      el.add(o);
    });
    el.onchange = () =>
      host.guard(() => {
        const c = clone();
        if (el.value === '') delete c.guidance;
        else c.guidance = { class: Number(el.value), scale: s.guidance?.scale ?? 0 };
        return host.setState(c);
      });
    row('class', el, `sample one class with classifier-free guidance (Ho & Salimans 2022): the score (1 + w) s(x, t | class) − w s(x, t); ${word === 'class' ? "this network's classes are the labels it was trained with" : "a mixture's class is a component (its score is exact)"}`);
    if (s.guidance) {
      row('  w', number('guidance.scale', s.guidance.scale, (x) => ({ ...clone(), guidance: { ...s.guidance, scale: x } })), 'the guidance scale w in [0, 20]: 0 samples the class itself; larger w pushes samples to where the class is much likelier than the rest (more typical, less varied)');
    }
  }
  // a parameter's help: its description in the registry entry of the current choice
  const help = (choices: Choice[], kind: string, key: string) =>
    choices.find((c) => c.name === kind)?.params.find((p) => p.name === key)?.description ?? '';
  const describe = (choices: Choice[], kind: string) => choices.find((c) => c.name === kind)?.description ?? '';
  row('SDE', select(host.choices.sde, s.sde.kind, (v) => ({ ...clone(), sde: { kind: v } })), describe(host.choices.sde, s.sde.kind));
  for (const [k, v] of Object.entries(s.sde)) {
    if (k === 'kind') continue;
    row(`  ${k}`, number(`sde.${k}`, v as number, (x) => { const c = clone(); c.sde[k] = x; return c; }), help(host.choices.sde, s.sde.kind, k));
  }
  row('sampler', select(host.choices.sampler, s.sampler.kind, (v) => ({ ...clone(), sampler: { kind: v } })), describe(host.choices.sampler, s.sampler.kind));
  for (const [k, v] of Object.entries(s.sampler)) {
    if (k === 'kind') continue;
    // a setting that is itself a choice (predictor, corrector, solver, schedule) gets its menu
    const names = (host.choices as unknown as Record<string, Choice[] | undefined>)[k];
    const el = names
      ? select(names, v as string, (x) => { const c = clone(); c.sampler[k] = x; return c; })
      : number(`sampler.${k}`, v as number, (x) => { const c = clone(); c.sampler[k] = x; return c; });
    row(`  ${k}`, el, help(host.choices.sampler, s.sampler.kind, k));
  }
  row('particles', number('n', s.n, (x) => ({ ...clone(), n: x })), 'n, the number of particles sampled together (each an independent sample)');
  row('seed', number('seed', s.seed, (x) => ({ ...clone(), seed: x })), "the seed of all the sampler's noise: the same seed gives the same run");
  const dn = document.createElement('input');
  dn.type = 'checkbox';
  dn.checked = s.denoise;
  dn.onchange = () => host.guard(() => host.setState({ ...clone(), denoise: dn.checked }));
  row('denoise', dn, 'a last step x ← (x + v(t) s(x, t)) / m(t) = E[x₀ | x_t] (Tweedie), removing the noise left at t = ε');
  host.updateOverlayControls();
  const preset = host.presets.find((p) => p.name === s.model);
  $('about').textContent = preset?.description ?? (s.model.startsWith('weights:') ? `trained network ${s.model.slice(8)}` : '');
}

/** The classes the lab's model offers for guidance, each described: a mixture's
 * components (weight and mean), a conditional network's labels (none: unconditional). */
function classesOf(host: ControlsHost, s: Settings): string[] {
  if (s.model.startsWith('weights:')) {
    return Array.from({ length: host.netClasses.get(s.model) ?? 0 }, (_, k) => `the network's label ${k} (the class of the training rows it was given)`);
  }
  const m = (s.model === 'mixture' ? host.mixture : host.presets.find((p) => p.name === s.model)?.mixture) as { weights?: number[]; means?: number[][] } | null | undefined;
  const weights = m?.weights ?? [];
  const total = weights.reduce((a, b) => a + b, 0);
  return weights.map((w, k) => `the mixture's component ${k}: weight ${(w / total).toFixed(3)}, mean (${(m?.means?.[k] ?? []).map((v) => v.toFixed(2)).join(', ')})`);
}
