// Settings that are also the URL (after TensorFlow Playground's state.ts): the hash holds
// the backend choice, embed mode, hidden controls, the demo, the step to show, the settings
// JSON and the training panel's data set, objective and conditioning, so a link reproduces a run, down to
// step k, and opens the training panel as it was set.

export interface HashState {
  backend: 'auto' | 'webgpu' | 'cpu';
  embed: boolean;
  /** Parts of the page hidden (for iframes and slides). */
  hide: string[];
  /** A lecture demo to open, or null for the 2-D lab. */
  demo: string | null;
  /** Sampler step to advance to after loading (the link points at step k). */
  k: number | null;
  settings: Record<string, unknown> | null;
  /** The training panel's data set (a named one: drawn or uploaded points cannot travel). */
  data: string | null;
  /** The training panel's objective (the library's named objectives). */
  objective: string | null;
  /** The training panel trains a class-conditional network (on the data's classes). */
  conditional: boolean;
}

/** The names the training keys accept (known once the wasm module is loaded). */
export interface HashChoices {
  data: string[];
  objective: string[];
}

const BACKENDS = ['auto', 'webgpu', 'cpu'] as const;
/** What `hide=` may name (comma-separated). */
export const HIDEABLE = [
  'header', 'controls', 'player', 'train', 'overlays', 'info', 'demos',
  // single controls of the settings panel (a section hides its parameters too)
  'model', 'class', 'sde', 'sampler', 'particles', 'seed', 'denoise',
] as const;
export const DEMOS = ['lab', 'pitfall', 'manifold', 'low-density', 'sde-vs-ode', 'bakeoff', 'images'] as const;
const KEYS = ['backend', 'embed', 'hide', 'demo', 'k', 's', 'data', 'objective', 'conditional'];

/** The hash as parsed: the keys that were valid, and one message per bad key (a bad key
 * never discards the good ones: `#backend=cpu&k=abc` keeps the CPU backend). */
export interface ParsedHash {
  state: HashState;
  errors: string[];
}

/** Parse the hash. Every bad key or value gets a message naming it and the accepted values;
 * the state holds the defaults in its place and every good key. */
export function parseHash(hash: string, choices: HashChoices): ParsedHash {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const errors: string[] = [];
  const state: HashState = { backend: 'auto', embed: false, hide: [], demo: null, k: null, settings: null, data: null, objective: null, conditional: false };
  for (const key of new Set(params.keys())) {
    if (!KEYS.includes(key)) errors.push(`invalid hash key '${key}'; accepted: ${KEYS.join(', ')}`);
  }
  const backend = params.get('backend');
  if (backend !== null) {
    if ((BACKENDS as readonly string[]).includes(backend)) state.backend = backend as HashState['backend'];
    else errors.push(`invalid hash backend: '${backend}'; accepted: ${BACKENDS.join(', ')}`);
  }
  for (const key of ['embed', 'conditional'] as const) {
    const v = params.get(key);
    if (v === null) continue;
    if (v === '0' || v === '1') state[key] = v === '1';
    else errors.push(`invalid hash ${key}: '${v}'; accepted: 0, 1`);
  }
  for (const h of (params.get('hide') ?? '').split(',').filter((h) => h !== '')) {
    if ((HIDEABLE as readonly string[]).includes(h)) state.hide.push(h);
    else errors.push(`invalid hash hide: '${h}'; accepted: ${HIDEABLE.join(', ')}`);
  }
  const demo = params.get('demo');
  if (demo !== null) {
    if ((DEMOS as readonly string[]).includes(demo)) state.demo = demo === 'lab' ? null : demo;
    else errors.push(`invalid hash demo: '${demo}'; accepted: ${DEMOS.join(', ')}`);
  }
  const kText = params.get('k');
  if (kText !== null) {
    const k = Number(kText);
    if (/^\d+$/.test(kText) && Number.isSafeInteger(k) && k <= 1_000_000) state.k = k;
    else errors.push(`invalid hash k: '${kText}'; accepted: an integer step in [0, 1000000]`);
  }
  const s = params.get('s');
  if (s !== null) {
    if (s.length > 20_000) errors.push(`invalid hash s: ${s.length} characters; at most 20000`);
    else {
      try {
        const v = JSON.parse(s);
        if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
        state.settings = v;
      } catch (e) {
        errors.push(`invalid hash s: not a JSON settings object (${(e as Error).message})`);
      }
    }
  }
  for (const key of ['data', 'objective'] as const) {
    const v = params.get(key);
    if (v === null) continue;
    if (choices[key].includes(v)) state[key] = v;
    else errors.push(`invalid hash ${key}: '${v}'; accepted: ${choices[key].join(', ')}`);
  }
  return { state, errors };
}

/** The hash for a state (also what "copy link" copies). */
export function hashString(state: HashState): string {
  const params = new URLSearchParams();
  if (state.backend !== 'auto') params.set('backend', state.backend);
  if (state.embed) params.set('embed', '1');
  if (state.hide.length) params.set('hide', state.hide.join(','));
  if (state.demo) params.set('demo', state.demo);
  if (state.k !== null && state.k > 0) params.set('k', String(state.k));
  if (state.settings) params.set('s', JSON.stringify(state.settings));
  if (state.data) params.set('data', state.data);
  if (state.objective) params.set('objective', state.objective);
  if (state.conditional) params.set('conditional', '1');
  return '#' + params.toString();
}

/** Write the hash without adding a history entry. */
export function writeHash(state: HashState): void {
  history.replaceState(null, '', hashString(state));
}
