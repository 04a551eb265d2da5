import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

export default defineConfig({
  root: here('.'),
  resolve: {
    // The SDK is generated into clients/typescript/src (npm run sdk); importing its
    // sources means a regenerated operation is in the page at the next build.
    alias: { '@pixbatch/sdk': here('../clients/typescript/src/index.ts') },
  },
  build: {
    // Beside the compiled server (dist/src), so the Dockerfile's `COPY dist` carries it.
    // `nest build` empties dist/ first, hence the root build script runs vite after it.
    outDir: here('../dist/web'),
    emptyOutDir: true,
    // Files under assets/ carry a content hash; the server caches them for a year.
    assetsDir: 'assets',
    // A CSP without 'unsafe-inline' forbids the inline module-preload polyfill.
    modulePreload: { polyfill: false },
  },
  server: {
    proxy: Object.fromEntries(['/api', '/files', '/docs', '/health'].map((path) => [path, 'http://localhost:3000'])),
  },
});
