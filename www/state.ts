// Settings that are also the URL (after TensorFlow Playground's state.ts): the hash holds
// the backend choice, embed mode and the settings JSON, so a link reproduces a run.

export interface HashState {
  backend: 'auto' | 'webgpu' | 'cpu';
  embed: boolean;
  settings: Record<string, unknown> | null;
}

const BACKENDS = ['auto', 'webgpu', 'cpu'] as const;

/** Parse the hash. Throws an Error naming the bad key; the caller shows it. */
export function parseHash(hash: string): HashState {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const backend = params.get('backend') ?? 'auto';
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new Error(`invalid hash backend: '${backend}'; accepted: ${BACKENDS.join(', ')}`);
  }
  const embed = params.get('embed');
  if (embed !== null && embed !== '0' && embed !== '1') {
    throw new Error(`invalid hash embed: '${embed}'; accepted: 0, 1`);
  }
  let settings: Record<string, unknown> | null = null;
  const s = params.get('s');
  if (s !== null) {
    try {
      const v = JSON.parse(s);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
      settings = v;
    } catch (e) {
      throw new Error(`invalid hash s: not a JSON settings object (${(e as Error).message})`);
    }
  }
  return { backend: backend as HashState['backend'], embed: embed === '1', settings };
}

/** Write the hash without adding a history entry. */
export function writeHash(state: HashState): void {
  const params = new URLSearchParams();
  if (state.backend !== 'auto') params.set('backend', state.backend);
  if (state.embed) params.set('embed', '1');
  if (state.settings) params.set('s', JSON.stringify(state.settings));
  history.replaceState(null, '', '#' + params.toString());
}
