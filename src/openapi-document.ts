import { INestApplication } from '@nestjs/common';
import { DocumentBuilder, OpenAPIObject, SwaggerModule } from '@nestjs/swagger';
import { API_KEY_HEADER } from './security/api-key.guard.js';

export const API_KEY_SCHEME = 'apiKey';

const TAG_DESCRIPTIONS: Record<string, string> = {
  requests: 'Upload a CSV, follow its processing, download the result',
  files: 'Output images, public so product pages can embed them',
  health: 'Probes for load balancers and orchestrators',
};

/**
 * The API's OpenAPI 3.1 document, the same whether it is served at /docs-json
 * or written to openapi.json by `npm run openapi`: the drift test compares the
 * two byte for byte, so nothing here may depend on configuration or time.
 */
export function createOpenApiDocument(app: INestApplication): OpenAPIObject {
  const config = new DocumentBuilder()
    .setOpenAPIVersion('3.1.0')
    .setTitle('pixbatch')
    .setDescription(
      'Upload a CSV of products with image URLs; every image is fetched, compressed (quality 50, format kept, ' +
        'optional resize) and stored. Poll the status, then download a result CSV with input and output URLs side by side. ' +
        'Errors are RFC 9457 problem documents (application/problem+json) with a stable `code`.',
    )
    .setVersion('1.0.0')
    .addServer('http://localhost:3000', 'A local instance (scripts/start, npm run demo)')
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: API_KEY_HEADER,
        description: 'Required only when the server is configured with API_KEYS; otherwise the API is open.',
      },
      API_KEY_SCHEME,
    )
    .addSecurityRequirements(API_KEY_SCHEME)
    .build();
  const document = SwaggerModule.createDocument(app, config, { operationIdFactory: (_controller, method) => method });
  return normalize(document);
}

/** Sorted paths, schemas and tags, so a new route or DTO shows up as a small diff of openapi.json. */
function normalize(document: OpenAPIObject): OpenAPIObject {
  const tags = new Set<string>();
  for (const item of Object.values(document.paths)) {
    for (const operation of Object.values(item)) {
      for (const tag of (operation as { tags?: string[] }).tags ?? []) tags.add(tag);
    }
  }
  return {
    ...document,
    tags: [...tags].sort().map((name) => (TAG_DESCRIPTIONS[name] ? { name, description: TAG_DESCRIPTIONS[name] } : { name })),
    paths: sortKeys(document.paths),
    components: { ...document.components, schemas: sortKeys(document.components?.schemas ?? {}) },
  };
}

function sortKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** The committed form of the document: two-space JSON with a final newline. */
export function serializeOpenApi(document: OpenAPIObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
