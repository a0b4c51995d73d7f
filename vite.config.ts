// Vite builds the playground from index.html at the repo root into dist/ (a static folder
// that works offline from any host). The wasm module comes from pkg/ (wasm-bindgen output).
import { defineConfig, type Plugin } from 'vite';
import { cpSync, existsSync } from 'node:fs';

// The shipped weight files (models/) are served next to the page as models/...
const shipModels = (): Plugin => ({
  name: 'scorelab-models',
  closeBundle() {
    if (existsSync('models')) cpSync('models', 'dist/models', { recursive: true });
  },
});

export default defineConfig({
  base: './',
  plugins: [shipModels()],
  build: { outDir: 'dist', target: 'es2022', assetsInlineLimit: 0 },
  // the wasm module runs in a module worker (www/worker.ts), bundled as an ES module
  worker: { format: 'es' },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
