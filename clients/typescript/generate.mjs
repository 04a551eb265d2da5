#!/usr/bin/env node
// Generates the SDK's src/ from the committed openapi.json with @hey-api/openapi-ts
// (the version pinned in the root package.json). The drift test runs it into a
// temporary folder and compares, so the output must depend on nothing else.
//   node clients/typescript/generate.mjs [out-dir]
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from '@hey-api/openapi-ts';

const here = dirname(fileURLToPath(import.meta.url));

await createClient({
  input: resolve(here, '../../openapi.json'),
  output: {
    path: resolve(process.argv[2] ?? resolve(here, 'src')),
    tsConfigPath: resolve(here, 'tsconfig.json'),
    module: { extension: '.js' },
  },
  // The entry file also exports the default client, so callers configure it (client.setConfig) from the package root.
  plugins: [{ name: '@hey-api/client-fetch', includeInEntry: true }, '@hey-api/typescript', '@hey-api/sdk'],
  // A spec problem the generator notices fails the run instead of scrolling past as a warning.
  parser: { validate_EXPERIMENTAL: 'strict' },
  logs: { file: false },
});
