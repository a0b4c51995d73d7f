// Vite builds the playground from index.html at the repo root into dist/ (a static folder
// that works offline from any host). The wasm module comes from pkg/ (wasm-bindgen output).
import { defineConfig } from 'vite';

export default defineConfig({
  base: './',
  build: { outDir: 'dist', target: 'es2022', assetsInlineLimit: 0 },
  server: { host: '127.0.0.1' },
  preview: { host: '127.0.0.1' },
});
