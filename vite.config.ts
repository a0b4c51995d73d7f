// Vite builds the playground from index.html at the repo root into dist/ (a static folder
// that works offline from any host). The wasm modules come from pkg/ (`make wasm`).
import { defineConfig, type Plugin } from 'vite';
import { cpSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/** What a first visit may download of gzipped wasm (the CPU module; models excluded). */
export const FIRST_VISIT_WASM_GZ = 2_000_000;

// The wasm modules' sizes, raw and gzipped (level 6, what static servers use): the CPU
// module is what every visit downloads; the WebGPU module only the first WebGPU use.
// www/tests/page.test.mjs fails above the budget.
const reportWasm = (): Plugin => ({
  name: 'scorelab-wasm-sizes',
  closeBundle() {
    const dir = 'dist/assets';
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir).filter((f) => f.endsWith('.wasm')).sort()) {
      const bytes = readFileSync(`${dir}/${f}`);
      const gz = gzipSync(bytes, { level: 6 }).length;
      const budget = `budget ${(FIRST_VISIT_WASM_GZ / 1e6).toFixed(1)} MB`;
      const simd = f.includes('_relaxed') ? 'relaxed SIMD' : 'wasm SIMD without relaxed SIMD';
      const role = f.includes('_cpu_threads')
        ? `CPU module on wasm threads, ${simd}: every cross-origin isolated visit (${budget})`
        : f.includes('_cpu')
          ? `CPU module on one thread, ${simd}: every visit without isolation (${budget})`
          : 'WebGPU module, first WebGPU use';
      console.log(`wasm ${f}: ${(bytes.length / 1e6).toFixed(2)} MB, ${(gz / 1e6).toFixed(2)} MB gzipped (${role})`);
    }
  },
});

// The shipped weight files (models/) are served next to the page as models/...
const shipModels = (): Plugin => ({
  name: 'scorelab-models',
  closeBundle() {
    if (existsSync('models')) cpSync('models', 'dist/models', { recursive: true });
  },
});

// Cross-origin isolation (COOP/COEP: SharedArrayBuffer, so the CPU module on wasm threads).
// `make serve`, `npm run dev` and the tests' server send the headers; for a static host that
// cannot, coi-serviceworker (npm `coi-serviceworker`, MIT) is shipped as coi-serviceworker.js
// next to the page: a service worker that adds them, registered by www/isolate.ts.
// (Cross-Origin-Resource-Policy too, so an isolated page, e.g. a deck, may frame this one.)
export const ISOLATION_HEADERS = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'cross-origin',
};
const coiServiceWorker = (): Plugin => {
  const source = () => readFileSync('node_modules/coi-serviceworker/coi-serviceworker.min.js', 'utf8');
  return {
    name: 'scorelab-coi-serviceworker',
    configureServer(server) {
      server.middlewares.use('/coi-serviceworker.js', (_req, res) => {
        res.setHeader('content-type', 'text/javascript');
        res.end(source());
      });
    },
    generateBundle() {
      this.emitFile({ type: 'asset', fileName: 'coi-serviceworker.js', source: source() });
    },
  };
};

// The Content-Security-Policy: scripts, workers and wasm from the page's own origin only
// ('wasm-unsafe-eval' compiles the wasm modules; no eval, no inline scripts, no other
// origins); styles may be inline (the page's <style> and a few style attributes); images
// also from data:/blob: URLs (canvas exports). `make serve` (vite preview) sends it as a
// header; the static build carries it as a <meta> (no frame-ancestors there: a meta policy
// cannot say it, and decks may frame the page). `npm run dev` has none (vite's dev client
// injects inline scripts). www/tests/page.test.mjs fails on any violation.
export const CSP = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self'",
  "connect-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'none'",
].join('; ');
const cspMeta = (): Plugin => ({
  name: 'scorelab-csp',
  apply: 'build',
  transformIndexHtml: () => [{ tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CSP }, injectTo: 'head-prepend' }],
});

export default defineConfig({
  base: './',
  plugins: [shipModels(), reportWasm(), coiServiceWorker(), cspMeta()],
  build: { outDir: 'dist', target: 'es2022', assetsInlineLimit: 0 },
  // the wasm module runs in a module worker (www/worker.ts), bundled as an ES module
  worker: { format: 'es' },
  server: { host: '127.0.0.1', headers: ISOLATION_HEADERS },
  preview: { host: '127.0.0.1', headers: { ...ISOLATION_HEADERS, 'Content-Security-Policy': CSP } },
});
