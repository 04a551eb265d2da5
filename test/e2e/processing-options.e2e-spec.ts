import { expect } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import type { ProblemDocumentDto } from '../../src/common/problem-document.dto.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import * as openapi from '../support/openapi.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';

// Refused before any image is fetched, so its URL is never reached.
const VALID_CSV = 'S. No.,Product Name,Input Image Urls\n1,SKU1,http://127.0.0.1/a.jpg\n';

/**
 * The processing options over HTTP: each one changes the stored images the way
 * docs/api-guide.md says, is reported back by the status route, and a bad value is one
 * clear 400 (or a 422 for resize with a bound); nothing is stored for either.
 */
describe('processing options: maxWidth, maxHeight, quality, format', () => {
  let images: ImageServer;
  let harness: TestApp;

  beforeAll(async () => {
    images = await ImageServer.start();
    harness = await startTestApp();
  });

  afterAll(async () => {
    await harness?.close();
    await images?.close();
  });

  const upload = (csv: string, fields: Record<string, string>) =>
    harness.app.inject({ method: 'POST', url: '/api/v1/requests', ...multipart(fields, { content: csv }) });

  async function requestCount(): Promise<number> {
    const [row] = await harness.app
      .get(MikroORM)
      .em.fork()
      .execute<{ n: string }[]>('SELECT count(*) AS n FROM processing_request');
    return Number(row.n);
  }

  /** Runs a request to its end and returns its output images, in CSV order. */
  async function outputs(fields: Record<string, string>, paths: string[]) {
    const csv = productCsv(
      paths.map((path, index) => ({ serial: index + 1, name: `P${index + 1}`, urls: [images.url(path)] })),
    );
    const response = await upload(csv, fields);
    expect(response.statusCode).toBe(202);
    const status = await waitForTerminal(harness.app, response.json<CreatedRequestDto>().requestId);
    expect(status.status).toBe('completed');
    const exported = await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${status.requestId}/export` });
    const rows: string[][] = parse(exported.rawPayload, { bom: true });
    const files = [];
    for (const row of rows.slice(1)) {
      const url = new URL(row[3]);
      const file = await harness.app.inject({ method: 'GET', url: url.pathname });
      expect(file.statusCode).toBe(200);
      files.push({ url: url.pathname, data: file.rawPayload, type: file.headers['content-type'] });
    }
    return { status, files };
  }

  it('fits every image inside maxWidth and maxHeight without enlarging, and reports the options', async () => {
    // photo.jpg is 640x480, photo2.jpg 800x600, alpha.png 320x240.
    const { status, files } = await outputs({ maxWidth: '400', maxHeight: '250' }, [
      '/photo.jpg',
      '/photo2.jpg',
      '/alpha.png',
    ]);
    expect(status.options).toEqual({
      resize: null,
      maxWidth: 400,
      maxHeight: 250,
      quality: 50,
      format: 'keep',
      reuse: true,
    });
    const sizes = await Promise.all(
      files.map(async ({ data }) => (await sharp(data).metadata()) as { width: number; height: number }),
    );
    expect(sizes.map(({ width, height }) => [width, height])).toEqual([
      [333, 250],
      [333, 250],
      [320, 240],
    ]);

    const wide = await outputs({ maxWidth: '1000' }, ['/photo.jpg']);
    expect(await sharp(wide.files[0].data).metadata()).toMatchObject({ width: 640, height: 480 });
  });

  it('writes the chosen format with its own extension and content type, JPEG flattened onto white', async () => {
    const { status, files } = await outputs({ format: 'webp', quality: '80' }, ['/photo.jpg', '/anim.gif']);
    expect(status.options).toMatchObject({ format: 'webp', quality: 80 });
    for (const file of files) {
      expect(file.url).toMatch(/\.webp$/);
      expect(file.type).toBe('image/webp');
      expect((await sharp(file.data).metadata()).format).toBe('webp');
    }
    const jpeg = await outputs({ format: 'jpeg' }, ['/alpha.png']);
    expect(jpeg.files[0].url).toMatch(/\.jpg$/);
    expect(await sharp(jpeg.files[0].data).metadata()).toMatchObject({ format: 'jpeg', channels: 3, hasAlpha: false });
  });

  it('makes smaller files at a lower quality', async () => {
    const low = await outputs({ quality: '5', format: 'jpeg' }, ['/photo2.jpg']);
    const high = await outputs({ quality: '95', format: 'jpeg' }, ['/photo2.jpg']);
    expect(low.files[0].data.length).toBeLessThan(high.files[0].data.length / 2);
  });

  it.each([
    ['maxWidth', '0', 'from 1 to 16384'],
    ['maxWidth', '12.5', 'whole number'],
    ['maxWidth', '800px', 'whole number'],
    ['maxHeight', '20000', 'from 1 to 16384'],
    ['quality', '0', 'from 1'],
    ['quality', '101', 'to 100'],
    ['quality', 'high', 'whole number'],
    ['format', 'gif', 'keep, jpeg, webp, avif, png'],
    ['format', 'JPEG', 'keep, jpeg, webp, avif, png'],
  ])('refuses %s=%j with one clear message and stores nothing', async (field, value, message) => {
    const before = await requestCount();
    for (const url of ['/api/v1/requests', '/api/v1/requests/validate']) {
      const response = await harness.app.inject({
        method: 'POST',
        url,
        ...multipart({ [field]: value }, { content: VALID_CSV }),
      });
      expect(response.statusCode).toBe(400);
      const body = response.json<ProblemDocumentDto>();
      expect(body).toMatchObject({ code: 'VALIDATION_FAILED' });
      expect(body.errors).toEqual([{ field, message: expect.stringContaining(message) }]);
      expect(body.detail?.split(';')).toHaveLength(1);
    }
    expect(await requestCount()).toBe(before);
  });

  it.each([
    [{ resize: '0.5', maxWidth: '100' }, 'resize scales by a factor and maxWidth fits inside a size'],
    [{ resize: '0.5', maxWidth: '100', maxHeight: '100' }, 'maxWidth and maxHeight fit inside a size'],
  ])('answers 422 OPTIONS_CONFLICT for resize with a bound (%j)', async (fields, detail) => {
    const before = await requestCount();
    for (const url of ['/api/v1/requests', '/api/v1/requests/validate']) {
      const response = await harness.app.inject({ method: 'POST', url, ...multipart(fields, { content: VALID_CSV }) });
      expect(response.statusCode).toBe(422);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json()).toMatchObject({ code: 'OPTIONS_CONFLICT', detail: expect.stringContaining(detail) });
    }
    expect(await requestCount()).toBe(before);
  });

  it('documents every option in OpenAPI, and what Try it out fills in makes a plain upload at full size', async () => {
    const served = (await harness.app.inject({ method: 'GET', url: '/docs-json' })).json<openapi.OpenAPIObject>();
    for (const path of ['/api/v1/requests', '/api/v1/requests/validate']) {
      const form = openapi.formSchema(openapi.operation(served, 'post', path));
      const properties = form.properties as Record<string, openapi.SchemaObject>;
      const values = (name: string) => properties[name].anyOf?.[0] ?? properties[name];
      expect(values('maxWidth')).toMatchObject({ type: 'integer', minimum: 1, maximum: 16384 });
      expect(values('maxHeight')).toMatchObject({ type: 'integer', minimum: 1, maximum: 16384 });
      expect(values('resize')).toMatchObject({ type: 'number', minimum: 0.01, maximum: 1 });
      expect(properties).toMatchObject({
        quality: { type: 'integer', minimum: 1, maximum: 100, default: 50 },
        format: { type: 'string', enum: ['keep', 'jpeg', 'webp', 'avif', 'png'], default: 'keep' },
      });
      // Swagger UI fills each field with its examples[0], default or example, and makes one up from the schema
      // (the minimum, https://example.com/) when there is none; it sends the fields that are not empty.
      const filled = Object.fromEntries(
        Object.entries(properties)
          .filter(([name]) => name !== 'file')
          .map(([name, property]) => {
            const examples = property.examples as unknown[] | undefined;
            return [name, examples?.[0] ?? property.default ?? property.example] as const;
          }),
      );
      expect(Object.entries(filled).filter(([, value]) => value === undefined)).toEqual([]);
      expect(filled).toEqual({
        webhookUrl: '',
        webhookEvents: '',
        resize: '',
        maxWidth: '',
        maxHeight: '',
        quality: 50,
        format: 'keep',
        reuse: true,
      });
      const sent = Object.fromEntries(
        Object.entries(filled)
          .filter(([, value]) => value !== '')
          .map(([name, value]) => [name, String(value)]),
      );
      const response = await upload(productCsv([{ serial: 1, name: 'P', urls: [images.url('/photo.jpg')] }]), sent);
      expect(response.statusCode).toBe(202);
      // The same upload with every field sent, the empty ones too (Swagger UI's "Send empty value"): the defaults.
      const everything = Object.fromEntries(Object.entries(filled).map(([name, value]) => [name, String(value)]));
      const created = await upload(
        productCsv([{ serial: 1, name: 'P', urls: [images.url('/photo.jpg')] }]),
        everything,
      );
      expect(created.statusCode).toBe(202);
      const status = await waitForTerminal(harness.app, created.json<CreatedRequestDto>().requestId);
      expect(status.options).toEqual({
        resize: null,
        maxWidth: null,
        maxHeight: null,
        quality: 50,
        format: 'keep',
        reuse: true,
      });
    }
    expect(openapi.component(served, 'ProcessingOptionsDto').required).toEqual(
      expect.arrayContaining(['resize', 'maxWidth', 'maxHeight', 'quality', 'format']),
    );
  });

  it('takes cleared fields as absent: the defaults apply', async () => {
    const csv = productCsv([{ serial: 1, name: 'P1', urls: [images.url('/photo.jpg')] }]);
    const response = await upload(csv, { maxWidth: '', maxHeight: '', quality: '', format: '', resize: '' });
    expect(response.statusCode).toBe(202);
    const status = await harness.app.inject({
      method: 'GET',
      url: `/api/v1/requests/${response.json<CreatedRequestDto>().requestId}`,
    });
    expect(status.json<RequestStatusDto>().options).toEqual({
      resize: null,
      maxWidth: null,
      maxHeight: null,
      quality: 50,
      format: 'keep',
      reuse: true,
    });
  });
});
