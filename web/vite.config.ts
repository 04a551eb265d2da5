import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/**
 * The multipart fields the upload route accepts, with their bounds and choices, from
 * the committed openapi.json the SDK is generated from. The page and the server are
 * built from one commit, so this tells the form which options to offer: the server
 * refuses a field it does not know (forbidNonWhitelisted), and the SDK's types leave
 * nothing to test at run time.
 */
function uploadFields(): Record<string, UploadField> {
  const spec = JSON.parse(readFileSync(here('../openapi.json'), 'utf8')) as OpenApiDocument;
  const schema = spec.paths?.['/api/v1/requests']?.post?.requestBody?.content?.['multipart/form-data']?.schema;
  const properties = schema?.properties ?? {};
  return Object.fromEntries(
    Object.entries(properties).map(([name, property]) => {
      // A field Swagger UI must leave empty is "its values, or the empty string" (anyOf): the bounds are in the first.
      const field = property.anyOf?.[0] ?? property;
      return [name, { enum: field.enum, minimum: field.minimum, maximum: field.maximum, default: field.default }];
    }),
  );
}

/** What the page learns of one upload field. */
interface UploadField {
  enum?: string[];
  minimum?: number;
  maximum?: number;
  default?: unknown;
}

/** The parts of openapi.json read above; the document is generated from this commit's server. */
interface OpenApiDocument {
  paths?: { [path: string]: { post?: Operation } | undefined };
}

interface Operation {
  requestBody?: { content?: { [mediaType: string]: { schema?: Schema } | undefined } };
}

interface Schema {
  properties?: Record<string, UploadField & { anyOf?: UploadField[] }>;
}

export default defineConfig({
  root: here('.'),
  define: { __UPLOAD_FIELDS__: JSON.stringify(uploadFields()) },
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
