import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { expect } from '@jest/globals';
import { serializeOpenApi } from '../../src/openapi-document.js';
import * as openapi from '../support/openapi.js';
import { startTestApp, TestApp } from '../support/test-app.js';

const run = promisify(execFile);
const SDK_SOURCE = 'clients/typescript/src';
const PROBLEM_REF = '#/components/schemas/ProblemDocumentDto';

/** Where two documents differ, three levels deep at most (paths › /x › get): enough to find the route or schema. */
function differences(a: object, b: object, at: string[] = []): string[] {
  const [fieldsOfA, fieldsOfB] = [
    new Map<string, unknown>(Object.entries(a)),
    new Map<string, unknown>(Object.entries(b)),
  ];
  const keys = new Set([...fieldsOfA.keys(), ...fieldsOfB.keys()]);
  return [...keys].flatMap((key) => {
    const [left, right] = [fieldsOfA.get(key), fieldsOfB.get(key)];
    if (JSON.stringify(left) === JSON.stringify(right)) return [];
    const here = [...at, key];
    const objects = typeof left === 'object' && typeof right === 'object' && left && right;
    return here.length < 3 && objects ? differences(left, right, here) : [here.join(' › ')];
  });
}

async function files(dir: string): Promise<Map<string, string>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const found = new Map<string, string>();
  for (const entry of entries.filter((e) => e.isFile())) {
    const path = join(entry.parentPath, entry.name);
    found.set(relative(dir, path), await readFile(path, 'utf8'));
  }
  return found;
}

/** Every operation with its route; the served path items hold operations only. */
function operations(document: openapi.OpenAPIObject): [string, openapi.OperationObject][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, openapi.OperationObject] => [
      `${method.toUpperCase()} ${path}`,
      operation as openapi.OperationObject,
    ]),
  );
}

describe('OpenAPI contract', () => {
  let testApp: TestApp;
  let served: openapi.OpenAPIObject;

  beforeAll(async () => {
    testApp = await startTestApp();
    served = (await testApp.app.inject({ method: 'GET', url: '/docs-json' })).json<openapi.OpenAPIObject>();
  });

  afterAll(async () => {
    await testApp?.close();
  });

  it('openapi.json is the document the running app serves', async () => {
    const committed = await readFile('openapi.json', 'utf8');
    if (serializeOpenApi(served) !== committed) {
      const where = differences(JSON.parse(committed) as object, served)
        .slice(0, 20)
        .join(', ');
      throw new Error(`openapi.json differs from the running app at ${where || 'formatting'}: run npm run openapi`);
    }
  });

  it('is OpenAPI 3.1 with one unique operationId and a tag per route', () => {
    expect(served.openapi).toBe('3.1.0');
    const ids = operations(served).map(([, operation]) => operation.operationId);
    expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    for (const [route, operation] of operations(served)) expect([route, operation.tags?.length]).toEqual([route, 1]);
  });

  it('documents every error answer as a problem document', () => {
    for (const [route, operation] of operations(served)) {
      for (const [status, response] of Object.entries(operation.responses)) {
        if (Number(status) < 400) continue;
        const schema =
          response && !openapi.isReference(response)
            ? response.content?.['application/problem+json']?.schema
            : undefined;
        // Terminus documents its own 503 body for the probes.
        if (route.startsWith('GET /health/')) continue;
        const ref = schema && openapi.isReference(schema) ? schema.$ref : undefined;
        expect([route, status, ref]).toEqual([route, status, PROBLEM_REF]);
      }
    }
  });

  it('asks for the API key everywhere but on the probes, the output images and how access works', () => {
    expect(served.components?.securitySchemes?.apiKey).toMatchObject({
      type: 'apiKey',
      in: 'header',
      name: 'x-api-key',
    });
    // Optional: a server without API_KEYS is open, which the empty alternative says.
    expect(served.security).toEqual([{ apiKey: [] }, {}]);
    const open = operations(served)
      .filter(([, operation]) => Array.isArray(operation.security) && operation.security.length === 0)
      .map(([route]) => route);
    expect(open.sort()).toEqual(['GET /api/v1/access', 'GET /files/{path}', 'GET /health/live', 'GET /health/ready']);
    for (const [route, operation] of operations(served)) {
      if (!open.includes(route))
        expect([route, Object.keys(operation.responses)]).toEqual([route, expect.arrayContaining(['401', '429'])]);
    }
  });

  it('describes the upload as a multipart form with the CSV as a binary part', () => {
    const form = openapi.formSchema(openapi.operation(served, 'post', '/api/v1/requests'));
    expect(form.required).toContain('file');
    expect(openapi.property(form, 'file')).toMatchObject({ type: 'string', format: 'binary' });
    expect(openapi.property(form, 'resize').anyOf?.[0]).toMatchObject({ type: 'number', maximum: 1 });
    const exported = openapi.response(openapi.operation(served, 'get', '/api/v1/requests/{id}/export'), '200');
    expect(exported.content).toHaveProperty('text/csv');
  });

  it('passes Redocly (recommended) and Spectral (spectral:oas) with no error and no warning', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'pixbatch-lint-'));
    try {
      await writeFile(join(dir, 'openapi.json'), serializeOpenApi(served));
      const redocly = await run('npx', [
        '--no-install',
        'redocly',
        'lint',
        join(dir, 'openapi.json'),
        '--format=json',
        '--config',
        'redocly.yaml',
      ])
        .then(({ stdout }) => stdout)
        .catch((error: { stdout: string }) => error.stdout);
      expect((JSON.parse(redocly) as { totals: object }).totals).toMatchObject({ errors: 0, warnings: 0 });
      // Exits non-zero on any finding, hints included.
      const spectral = await run('npx', [
        '--no-install',
        'spectral',
        'lint',
        join(dir, 'openapi.json'),
        '--ruleset',
        '.spectral.yaml',
        '--fail-severity=hint',
      ])
        .then(() => 'clean')
        .catch((error: { stdout: string }) => error.stdout);
      expect(spectral).toBe('clean');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('types counts as integers, output images as binary, and serves a relative server URL', () => {
    const problem = openapi.component(served, 'ProblemDocumentDto');
    expect(openapi.property(problem, 'status').type).toBe('integer');
    expect(openapi.property(openapi.component(served, 'ProductPageDto'), 'total').type).toBe('integer');
    expect(served.servers).toEqual([expect.objectContaining({ url: '/' })]);
    expect(openapi.response(openapi.operation(served, 'get', '/files/{path}'), '200').content).toEqual({
      'image/*': { schema: expect.objectContaining({ type: 'string', format: 'binary' }) },
    });
    const upload = openapi.operation(served, 'post', '/api/v1/requests');
    const created = openapi.response(upload, '202');
    expect(Object.keys(created.headers ?? {})).toEqual(
      expect.arrayContaining(['Location', 'Idempotent-Replayed', 'X-RateLimit-Limit']),
    );
    const key = openapi.parameter(upload, 'Idempotency-Key');
    expect(key.schema).toMatchObject({ minLength: 1, maxLength: 255, pattern: expect.any(String) });
  });

  it('types every count, size, row, line and position as an integer, wherever it appears', () => {
    // Names that hold whole numbers; `percent` and the `resize` factor are the fractions among the numbers.
    const whole =
      /count|total|processed|succeeded|failed|cancelled|pending|size|bytes|^row$|^line$|index|width|height|round|attempt|seconds|ms$|limit/i;
    const fractions = new Set(['percent', 'resize']);
    const wrong: string[] = [];
    const walk = (schema: unknown, where: string): void => {
      if (schema === null || typeof schema !== 'object') return;
      const node = schema as { type?: unknown; properties?: Record<string, unknown>; items?: unknown };
      for (const [name, property] of Object.entries(node.properties ?? {})) {
        const type = (property as { type?: unknown }).type;
        const types = Array.isArray(type) ? type : [type];
        if (whole.test(name) && !fractions.has(name) && types.includes('number')) wrong.push(`${where}.${name}`);
        walk(property, `${where}.${name}`);
      }
      walk(node.items, `${where}[]`);
    };
    for (const [name, schema] of Object.entries(served.components?.schemas ?? {})) walk(schema, name);
    expect(wrong).toEqual([]);
  });

  it('declares every member a problem document carries', () => {
    const declared = Object.keys(openapi.component(served, 'ProblemDocumentDto').properties ?? {});
    // The extension members the service sets (AppError's fifth argument, the rate limiter's, the filter's).
    for (const member of [
      'errors',
      'errorCount',
      'retryAfterSeconds',
      'rateLimit',
      'limitBytes',
      'requestStatus',
      'requestId',
      'timeoutMs',
      'format',
      'fields',
      'field',
    ]) {
      expect(declared).toContain(member);
    }
  });

  it('clients/typescript is what the generator makes from openapi.json, without warnings', async () => {
    const out = await mkdtemp(join(tmpdir(), 'pixbatch-sdk-'));
    try {
      const { stdout, stderr } = await run(process.execPath, ['clients/typescript/generate.mjs', out]);
      expect(`${stdout}${stderr}`).not.toMatch(/warn|error/i);
      const [fresh, committed] = [await files(out), await files(SDK_SOURCE)];
      const changed = [...new Set([...fresh.keys(), ...committed.keys()])].filter(
        (file) => fresh.get(file) !== committed.get(file),
      );
      if (changed.length > 0)
        throw new Error(`${SDK_SOURCE} differs from a fresh generation in ${changed.join(', ')}: run npm run sdk`);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
