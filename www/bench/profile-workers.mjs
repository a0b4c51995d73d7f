// CPU profile of every worker of the built page (dist/) while it trains the toy MLP: the
// lab's and the training's workers and the wasm thread pools' workers under them (nested
// workers, reached by auto-attaching from each worker in turn). Prints each worker's top
// functions by self time. Not part of CI. With function names:
//
//   make wasm NAMES=1 && npm run build && node www/bench/profile-workers.mjs [steps]
//
// (NAMES=1 keeps the wasm name sections, ~1 MB more per module; rebuild without it after.)
// Served cross-origin isolated, so the threaded CPU module runs (its relaxed-SIMD build in
// Chromium).
import { chromium } from 'playwright-core';
import { serve } from '../tests/serve.mjs';

const STEPS = Number(process.argv[2] ?? 300);
const server = await serve('dist');
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: ['--no-sandbox'], headless: true });
const page = await browser.newPage();
const root = await page.context().newCDPSession(page);

// Non-flattened sessions: a command to a nested target is wrapped once per level in
// Target.sendMessageToTarget, and its answer comes back wrapped in
// Target.receivedMessageFromTarget events.
let nextId = 1;
const pending = new Map();
const targets = [];
function send(path, method, params = {}) {
  const id = nextId++;
  let message = JSON.stringify({ id, method, params });
  for (let i = path.length - 1; i > 0; i--) {
    message = JSON.stringify({ id: nextId++, method: 'Target.sendMessageToTarget', params: { sessionId: path[i], message } });
  }
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject });
    root.send('Target.sendMessageToTarget', { sessionId: path[0], message }).catch(reject);
  });
}
function received(path, raw) {
  const m = JSON.parse(raw);
  const p = pending.get(m.id);
  if (p) {
    pending.delete(m.id);
    if (m.error) p.reject(new Error(JSON.stringify(m.error)));
    else p.resolve(m.result);
  } else if (m.method === 'Target.attachedToTarget') attached(path, m.params);
  else if (m.method === 'Target.receivedMessageFromTarget') received([...path, m.params.sessionId], m.params.message);
}
function attached(parent, { sessionId, targetInfo }) {
  const path = [...parent, sessionId];
  targets.push({ path, name: `${targetInfo.title || targetInfo.url.split('/').pop()} (depth ${path.length})` });
  send(path, 'Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false }).catch(() => {});
}
root.on('Target.attachedToTarget', (p) => attached([], p));
root.on('Target.receivedMessageFromTarget', (p) => received([p.sessionId], p.message));
await root.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });

await page.goto(`http://127.0.0.1:${server.address().port}/#backend=cpu`);
await page.waitForFunction(() => window.scorelab?.ready, null, { timeout: 120_000 });
await page.evaluate(() => window.scorelab.train(150)); // past the engine's warm-up
const workers = targets.filter((t) => !t.name.startsWith('scorelab playground'));
for (const w of workers) {
  await send(w.path, 'Profiler.enable');
  await send(w.path, 'Profiler.setSamplingInterval', { interval: 200 });
  await send(w.path, 'Profiler.start');
}
await page.evaluate((k) => window.scorelab.train(k), STEPS);
for (const w of workers) {
  const { profile } = await send(w.path, 'Profiler.stop');
  const node = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (const id of profile.samples) {
    const f = node.get(id).callFrame;
    const name = f.functionName || `(${f.url.split('/').pop() || 'program'})`;
    self.set(name, (self.get(name) ?? 0) + 1);
  }
  console.log(`\n${w.name}: ${profile.samples.length} samples`);
  for (const [name, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`  ${((100 * n) / profile.samples.length).toFixed(1).padStart(5)} %  ${name.slice(0, 160)}`);
  }
}
await browser.close();
server.close();
