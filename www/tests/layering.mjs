// The page's modules import one another one way (no cycles, type-only imports included) and
// none grows past MAX_LINES (issue 21: the page split by concern). Read from the sources.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const MAX_LINES = 450;
const files = ['www', 'www/demos'].flatMap((d) => fs.readdirSync(d).filter((f) => f.endsWith('.ts')).map((f) => path.join(d, f)));
const graph = new Map();
for (const f of files) {
  const text = fs.readFileSync(f, 'utf8');
  const lines = text.split('\n').length;
  assert.ok(lines <= MAX_LINES, `${f}: ${lines} lines (at most ${MAX_LINES}); split it by concern`);
  const deps = [...text.matchAll(/^import (?:type )?[^;]*? from '(\.[^']+)';/gms)].map((m) => path.join(path.dirname(f), m[1]) + '.ts');
  graph.set(f, deps);
}
const state = new Map();
function visit(v, trail) {
  state.set(v, 1);
  for (const w of graph.get(v) ?? []) {
    if (state.get(w) === 1) assert.fail(`import cycle: ${[...trail.slice(trail.indexOf(w)), v, w].join(' -> ')}`);
    if (!state.has(w)) visit(w, [...trail, v]);
  }
  state.set(v, 2);
}
for (const v of graph.keys()) if (!state.has(v)) visit(v, []);
// the check can fail: a cycle of two is found
state.clear();
graph.set('a', ['b']);
graph.set('b', ['a']);
assert.throws(() => visit('a', []), /import cycle: a -> b -> a/);
console.log(`page modules: ${files.length}, no import cycles, largest ${Math.max(...files.map((f) => fs.readFileSync(f, 'utf8').split('\n').length))} lines`);
