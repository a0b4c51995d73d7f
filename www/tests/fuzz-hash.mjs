// Fuzzing the page's URL-hash parser (www/state.ts `parseHash`): seeded mutations of valid
// hashes (character flips, inserted separators and escapes, spliced keys, long values,
// broken JSON in s=). Every input must parse without throwing, every accepted value must be
// one the page accepts, and hashString(parse(h)) must parse back to the same state (a
// link round-trips; k=0, the start, is left out of links). The settings JSON inside s= is checked by the library
// (tests/fuzz.rs). FUZZ_ITERS sets the count (default 200,000; a long run: 1,000,000).
import assert from 'node:assert/strict';
import { build } from 'esbuild';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'scorelab-fuzz-')), 'state.mjs');
await build({ entryPoints: ['www/state.ts'], bundle: true, format: 'esm', platform: 'neutral', outfile: out, logLevel: 'error' });
const { parseHash, hashString, HIDEABLE, DEMOS } = await import(out);

const choices = { data: ['moons', 'swiss-roll', 'ring8'], objective: ['dsm', 'ssm', 'dsm-likelihood-is'] };
const seeds = [
  '#backend=cpu&k=12&s={"model":"ring8","n":500}',
  '#embed=1&hide=controls,player&demo=pitfall',
  '#data=moons&objective=ssm&backend=webgpu',
  '#s=%7B%22sampler%22%3A%7B%22kind%22%3A%22pc%22%7D%7D&k=0',
];
const pieces = ['&', '=', '%', '%zz', '%7B', '#', ',', '{', '}', '"', '\u0000', '\ud800', 'k=-1', 'k=1e9', 'hide=', 'demo=lab', 's=[]', 's=null', 'backend=', '&&', '+', ' '];

let x = 0x2545f491;
const rand = (n) => {
  x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
  return x % n;
};
function mutate() {
  let s = seeds[rand(seeds.length)];
  for (let e = 0; e <= rand(4); e++) {
    const at = rand(s.length + 1);
    switch (rand(6)) {
      case 0: s = s.slice(0, at) + String.fromCharCode(rand(0x3000)) + s.slice(at + 1); break;
      case 1: s = s.slice(0, at) + pieces[rand(pieces.length)] + s.slice(at); break;
      case 2: s = s.slice(0, at) + s.slice(at + 1 + rand(8)); break;
      case 3: { const o = seeds[rand(seeds.length)]; const f = rand(o.length); s = s.slice(0, at) + o.slice(f, f + rand(30)) + s.slice(at); break; }
      case 4: s = s.slice(0, at) + 'x'.repeat(rand(3) === 0 ? 25_000 : rand(50)) + s.slice(at); break;
      default: s = s.slice(0, at);
    }
  }
  return s;
}

const iters = Number(process.env.FUZZ_ITERS ?? 200_000);
const t0 = Date.now();
let withErrors = 0;
for (let i = 0; i < iters; i++) {
  const h = mutate();
  let r;
  try {
    r = parseHash(h, choices);
  } catch (e) {
    assert.fail(`input ${i} threw ${e}: ${JSON.stringify(h.slice(0, 200))}`);
  }
  const { state, errors } = r;
  if (errors.length) withErrors++;
  assert.ok(errors.every((m) => typeof m === 'string' && m.startsWith('invalid hash ')), JSON.stringify(errors));
  assert.ok(['auto', 'webgpu', 'cpu'].includes(state.backend), h);
  assert.ok(state.hide.every((p) => HIDEABLE.includes(p)), h);
  assert.ok(state.demo === null || DEMOS.includes(state.demo), h);
  assert.ok(state.k === null || (Number.isInteger(state.k) && state.k >= 0 && state.k <= 1_000_000), h);
  assert.ok(state.data === null || choices.data.includes(state.data), h);
  assert.ok(state.objective === null || choices.objective.includes(state.objective), h);
  assert.ok(state.settings === null || (typeof state.settings === 'object' && !Array.isArray(state.settings)), h);
  const again = parseHash(hashString(state), choices);
  assert.deepEqual(again.errors, [], `the link of ${JSON.stringify(h.slice(0, 200))} does not parse back: ${again.errors}`);
  // k=0 is the start of the run, which a link leaves out
  assert.deepEqual(again.state, { ...state, k: state.k === 0 ? null : state.k }, `the link of ${JSON.stringify(h.slice(0, 200))} changes the state`);
}
console.log(`fuzz parseHash: ${iters} inputs, ${withErrors} with messages, ${Math.round(iters / ((Date.now() - t0) / 1000))} inputs/s`);
