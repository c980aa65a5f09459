// Builds the dashboard into ../assets (committed, embedded into the
// `dcos` binary by the gateway). Hashed file names under assets/assets/,
// no source maps, no build timestamps: the same input gives the same bytes.
import { defineConfig } from 'vite';

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: '../assets',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
    target: 'es2020',
  },
});
