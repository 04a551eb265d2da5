import { INestApplication } from '@nestjs/common';
import {
  DocumentBuilder,
  getSchemaPath,
  OpenAPIObject,
  OperationObject,
  PathItemObject,
  PathsObject,
  ResponsesObject,
  SwaggerModule,
} from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from './common/problem-details.filter.js';
import { ProblemDocumentDto } from './common/problem-document.dto.js';
import { API_KEY_HEADER } from './security/api-key-verifier.js';
import { WebhookEventDto } from './webhooks/dto/webhook-event.dto.js';
import { WEBHOOK_EVENT_TYPES } from './requests/request-events.js';

export const API_KEY_SCHEME = 'apiKey';

const TAG_DESCRIPTIONS: Record<string, string> = {
  access: 'Whether this server asks for an API key, for a client to know before its first call',
  requests: 'Upload a CSV, follow its processing, download the result',
  files: 'Output images, public so product pages can embed them',
  health: 'Probes for load balancers and orchestrators',
  webhooks: "Signed events POSTed to a request's webhookUrl, and the log of their deliveries",
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
    // Relative: Swagger UI and clients resolve it against wherever the document was fetched from.
    .addServer('/', 'The server this document was fetched from')
    .addApiKey(
      {
        type: 'apiKey',
        in: 'header',
        name: API_KEY_HEADER,
        description:
          'Required only when the server is configured with API_KEYS, hence the empty alternative in `security`. ' +
          'Without API_KEYS the server is in protected mode (it serves only clients on its own machine) unless it ' +
          'was started with PROTECTED_MODE=off.',
      },
      API_KEY_SCHEME,
    )
    .build();
  // The empty requirement says what a server without API_KEYS does: no key at all.
  config.security = [{ [API_KEY_SCHEME]: [] }, {}];
  config.webhooks = webhooks();
  // Not open source (package.json: UNLICENSED); SPDX spells a custom licence as LicenseRef-.
  // The swagger module's types predate 3.1's `identifier`.
  config.info.license = {
    name: 'Proprietary',
    identifier: 'LicenseRef-pixbatch-proprietary',
  } as OpenAPIObject['info']['license'];
  const document = SwaggerModule.createDocument(app, config, {
    operationIdFactory: (_controller, method) => method,
    extraModels: [ProblemDocumentDto, WebhookEventDto],
  });
  return normalize(document);
}

const SIGNATURE_HEADERS: [string, string][] = [
  ['webhook-id', 'The event id: the same on every retry and redelivery, so receivers can drop duplicates'],
  ['webhook-timestamp', 'Unix seconds of this attempt; reject old ones to stop replays'],
  [
    'webhook-signature',
    '`v1,<base64 HMAC-SHA256>` per Standard Webhooks; two, space-separated, while the key is rotated',
  ],
];

/** OpenAPI 3.1 `webhooks`: what pixbatch POSTs to a request's webhookUrl, one entry per event type. */
function webhooks(): Record<string, PathItemObject> {
  return Object.fromEntries(
    WEBHOOK_EVENT_TYPES.map((type) => [
      type,
      {
        post: {
          operationId: `${type.replace(/\.(\w)/g, (_, letter: string) => letter.toUpperCase())}Webhook`,
          summary: `Event ${type}, sent once the request reaches that terminal status`,
          description:
            'POSTed to the webhookUrl of the request, signed per Standard Webhooks; retried with backoff until a 2xx, a 410 or the last attempt.',
          tags: ['webhooks'],
          security: [],
          parameters: SIGNATURE_HEADERS.map(([name, description]) => ({
            name,
            in: 'header',
            required: true,
            description,
            schema: { type: 'string' },
          })),
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: getSchemaPath(WebhookEventDto) } } },
          },
          responses: {
            '200': { description: 'Any 2xx: delivered' },
            '410': { description: 'Gone: no more attempts for this delivery' },
            default: { description: 'Anything else (or no answer): retried with backoff' },
          },
        },
      },
    ]),
  );
}

/** Problems the global guards answer with on every route that is not public. */
const RATE_LIMIT_HEADERS = {
  'X-RateLimit-Limit': {
    description:
      "Calls allowed per minute on the caller's budget closest to running out (requests, uploads or writes), " +
      'per tenant with a valid API key, per client address otherwise',
    schema: { type: 'integer' },
  },
  'X-RateLimit-Remaining': { description: 'Calls left on that budget this minute', schema: { type: 'integer' } },
};
const RETRY_AFTER_HEADER = {
  'Retry-After': { description: 'Seconds until the rate-limit window resets', schema: { type: 'integer' } },
};

const GUARD_PROBLEMS: Record<string, string> = {
  '401': 'API key missing or not valid (only when the server is configured with API_KEYS)',
  '403': 'PROTECTED_MODE: the server has no API_KEYS and serves only clients on its own machine',
  '429': 'Rate limit exceeded (RATE_LIMIT_PER_MINUTE requests this minute); retry after the Retry-After header',
};

/**
 * Adds what the global guards answer, then sorts paths, schemas, responses and
 * tags, so a new route or DTO shows up as a small diff of openapi.json.
 */
function normalize(document: OpenAPIObject): OpenAPIObject {
  const tags = new Set<string>();
  const paths: PathsObject = {};
  for (const [path, item] of sortedEntries(document.paths)) {
    paths[path] = Object.fromEntries(
      Object.entries(item).map(([method, operation]: [string, OperationObject]) => {
        for (const tag of operation.tags ?? []) tags.add(tag);
        const responses: ResponsesObject = { ...operation.responses };
        if (operation.security?.length !== 0) {
          for (const [status, description] of Object.entries(GUARD_PROBLEMS)) {
            responses[status] ??= {
              description,
              content: { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: getSchemaPath(ProblemDocumentDto) } } },
            };
          }
          // The rate-limit guard sets these on every answer it lets through, and Retry-After on its 429.
          for (const [status, response] of Object.entries(responses)) {
            if (!response || !('description' in response)) continue;
            const extra = status === '429' ? RETRY_AFTER_HEADER : /^[23]/.test(status) ? RATE_LIMIT_HEADERS : {};
            responses[status] = { ...response, headers: { ...response.headers, ...extra } };
          }
        }
        return [method, { ...operation, responses: Object.fromEntries(sortedEntries(responses)) }];
      }),
    );
  }
  return inlineSingleAllOf({
    ...document,
    tags: [...tags]
      .sort()
      .map((name) => (TAG_DESCRIPTIONS[name] ? { name, description: TAG_DESCRIPTIONS[name] } : { name })),
    paths,
    components: {
      ...document.components,
      schemas: Object.fromEntries(sortedEntries(document.components?.schemas ?? {})),
    },
  });
}

/**
 * `allOf: [{ $ref }]` is how the swagger module attaches a description or
 * nullability to a reference; OpenAPI 3.1 allows `$ref` beside other keywords,
 * so the one-element `allOf` (which linters flag as illogical) is folded away.
 */
function inlineSingleAllOf<T>(node: T): T {
  if (Array.isArray(node)) return node.map(inlineSingleAllOf) as T;
  if (typeof node !== 'object' || node === null) return node;
  const entries = Object.entries(node).map(([key, value]) => [key, inlineSingleAllOf(value)] as const);
  const object = Object.fromEntries(entries) as Record<string, unknown>;
  const allOf = object.allOf;
  if (Array.isArray(allOf) && allOf.length === 1 && typeof allOf[0] === 'object') {
    delete object.allOf;
    return { ...(allOf[0] as object), ...object } as T;
  }
  return object as T;
}

function sortedEntries<T>(record: Record<string, T>): [string, T][] {
  return Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The committed form of the document: two-space JSON with a final newline. */
export function serializeOpenApi(document: OpenAPIObject): string {
  return `${JSON.stringify(document, null, 2)}\n`;
}
