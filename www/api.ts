// window.scorelab: the page API that tests and slide decks use (DESIGN.md, Page API), and
// the same commands by postMessage from an embedding page:
//   frame.contentWindow.postMessage({ id, cmd: 'step', args: [10] }, '*')
// answers { id, result } or { id, error }.
import type { Playground } from './main';

export function installApi(pg: Playground): void {
  const api = {
    get backend(): string {
      return pg.session?.backend ?? 'loading';
    },
    get ready(): boolean {
      return document.body.dataset.ready === '1';
    },
    state: () => pg.state(),
    setState: (obj: Record<string, unknown>) => pg.setState(obj),
    run: () => pg.run(),
    step: (k = 1) => {
      if (!Number.isInteger(k) || k < 1 || k > 1_000_000) {
        return Promise.reject(new Error(`invalid k: must be an integer in [1, 1000000], got ${k}`));
      }
      return pg.step(k);
    },
    particles: () => pg.readParticles(),
    report: async () => pg.session.report(await pg.readParticles(), 20),
    train: (k = 100) => {
      if (!Number.isInteger(k) || k < 1 || k > 100_000) {
        return Promise.reject(new Error(`invalid k: must be an integer in [1, 100000], got ${k}`));
      }
      return pg.train(k);
    },
    useTrained: async () => {
      if (!pg.training) throw new Error('train first');
      const bytes = (await pg.serial(() => pg.training!.export())) as Uint8Array;
      await pg.loadWeights('browser', bytes);
    },
  };
  (window as any).scorelab = api;
  window.addEventListener('message', async (ev: MessageEvent) => {
    const msg = ev.data;
    if (!msg || typeof msg !== 'object' || typeof msg.cmd !== 'string') return;
    const reply = (body: Record<string, unknown>) => (ev.source as Window | null)?.postMessage({ id: msg.id, ...body }, { targetOrigin: '*' });
    const fn = (api as any)[msg.cmd];
    if (typeof fn !== 'function') {
      reply({ error: `unknown command '${msg.cmd}'; accepted: state, setState, run, step, particles, report, train, useTrained` });
      return;
    }
    try {
      const result = await fn(...(Array.isArray(msg.args) ? msg.args : []));
      reply({ result: result instanceof Float32Array ? Array.from(result) : result });
    } catch (e) {
      reply({ error: (e as Error).message ?? String(e) });
    }
  });
}
