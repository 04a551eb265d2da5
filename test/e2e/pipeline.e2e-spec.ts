import { MikroORM } from '@mikro-orm/postgresql';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import type { ProblemDocumentDto } from '../../src/common/problem-document.dto.js';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { CreatedRequestDto, LegacyStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { ImageServer } from '../support/image-server.js';
import type { OpenAPIObject } from '../support/openapi.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';
import { productCsv } from '../factories/csv.factory.js';

const LIMIT_BYTES = 200_000;
const LIMIT_ROWS = 500;
const VALID_CSV = 'S. No.,Product Name,Input Image Urls\n1,SKU1,https://example.com/a.jpg\n';

describe('upload → process → status → export', () => {
  let images: ImageServer;
  let harness: TestApp;

  beforeAll(async () => {
    images = await ImageServer.start();
    harness = await startTestApp({ MAX_CSV_BYTES: String(LIMIT_BYTES), MAX_CSV_ROWS: String(LIMIT_ROWS) });
  });

  afterAll(async () => {
    await harness?.close();
    await images?.close();
  });

  async function upload(csv: string | Buffer, fields: Record<string, string> = {}, filename = 'products.csv') {
    return harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart(fields, { content: csv, filename }),
    });
  }

  /** Fetches an output image through the app's own /files route. */
  async function outputImage(url: string): Promise<Buffer> {
    const path = new URL(url).pathname;
    const response = await harness.app.inject({ method: 'GET', url: path });
    expect(response.statusCode).toBe(200);
    return response.rawPayload;
  }

  it('processes every kind of image, records failures, and exports aligned output URLs', async () => {
    const csv = productCsv([
      { serial: 1, name: 'Photo', urls: [images.url('/photo.jpg?size=large&q="x"'), images.url('/alpha.png')] },
      {
        serial: 2,
        name: 'Oriented',
        urls: [images.url('/rotated.jpg'), images.url('/cmyk.jpg'), images.url('/anim.gif')],
      },
      {
        serial: 3,
        name: 'Broken',
        urls: [images.url('/missing.jpg'), images.url('/redirect/3'), images.url('/page.jpg')],
      },
      { serial: 4, name: 'Slow and flaky', urls: [images.url('/slow.jpg'), images.url('/flaky.jpg')] },
    ]);
    const response = await upload(csv);
    expect(response.statusCode).toBe(202);
    const created = response.json<CreatedRequestDto>();
    expect(created).toMatchObject({ status: 'pending', productCount: 4, imageCount: 10 });
    expect(response.headers.location).toBe(`/api/v1/requests/${created.requestId}`);

    const status = await waitForTerminal(harness.app, created.requestId);
    expect(status).toMatchObject({
      status: 'completed_with_errors',
      completed: true,
      percent: 100,
      counts: { products: { total: 4, processed: 4 }, images: { total: 10, succeeded: 8, failed: 2, pending: 0 } },
    });
    expect(status.startedAt).not.toBeNull();
    expect(status.completedAt).not.toBeNull();
    expect(status.errors).toEqual([
      expect.objectContaining({ serialNumber: '3', url: images.url('/missing.jpg'), code: 'HTTP_404' }),
      expect.objectContaining({ serialNumber: '3', url: images.url('/page.jpg'), code: 'NOT_AN_IMAGE' }),
    ]);
    // The flaky image failed once with 503 and was retried.
    expect(images.hitCount('/flaky.jpg')).toBe(2);

    const exported = await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${created.requestId}/export` });
    expect(exported.statusCode).toBe(200);
    expect(exported.headers['content-type']).toContain('text/csv');
    expect(exported.headers['content-disposition']).toContain('products-result.csv');
    const rows: string[][] = parse(exported.rawPayload, { bom: true });
    expect(rows[0]).toEqual(['S. No.', 'Product Name', 'Input Image Urls', 'Output Image Urls', 'Errors']);
    expect(rows).toHaveLength(5);
    const outputs = rows.slice(1).map((row) => row[3].split(','));
    expect(outputs.map((urls) => urls.length)).toEqual([2, 3, 3, 2]);
    expect(outputs[2][0]).toBe('');
    expect(outputs[2][2]).toBe('');
    expect(rows[3][4]).toContain('HTTP_404');
    expect(rows[3][4]).toContain('NOT_AN_IMAGE');
    expect(rows[1][4]).toBe('');

    const [photoUrl, pngUrl] = outputs[0];
    const photo = await outputImage(photoUrl);
    expect(await sharp(photo).metadata()).toMatchObject({ format: 'jpeg', width: 640, height: 480 });
    expect(photo.length).toBeLessThan(images.images.get('/photo.jpg')!.length);
    const png = await sharp(await outputImage(pngUrl)).metadata();
    expect(png).toMatchObject({ format: 'png', width: 320, height: 240, hasAlpha: true });

    const [rotatedUrl, cmykUrl, gifUrl] = outputs[1];
    expect(await sharp(await outputImage(rotatedUrl)).metadata()).toMatchObject({ width: 240, height: 320 });
    const cmyk = await sharp(await outputImage(cmykUrl)).metadata();
    expect(cmyk).toMatchObject({ format: 'jpeg', space: 'srgb', channels: 3 });
    const gif = await sharp(await outputImage(gifUrl), { pages: -1 }).metadata();
    expect(gif).toMatchObject({ format: 'gif', pages: 4 });
    // The redirect chain ended at photo2.jpg (800×600).
    expect(await sharp(await outputImage(outputs[2][1])).metadata()).toMatchObject({ width: 800, height: 600 });

    const products = await harness.app.inject({
      method: 'GET',
      url: `/api/v1/requests/${created.requestId}/products?page=1&pageSize=2`,
    });
    expect(products.statusCode).toBe(200);
    expect(products.json()).toMatchObject({ page: 1, pageSize: 2, total: 4 });
    expect(products.json<ProductPageDto>().items.map((item) => item.serialNumber)).toEqual(['1', '2']);
    expect(products.json<ProductPageDto>().items[0].images[0]).toMatchObject({
      position: 0,
      status: 'succeeded',
      format: 'jpeg',
    });
  });

  it('accepts an awkward but legal CSV: BOM, CRLF, quoted commas, extra columns, duplicate URLs', async () => {
    const photo = images.url('/photo.jpg');
    const csv = productCsv(
      [
        { serial: 1, name: 'Chair, oak "classic"', urls: [photo, photo], extra: ['=HYPERLINK("x")', 'café'] },
        { serial: 2, name: 'Lamp\nwith newline', urls: [images.url('/photo2.jpg')], extra: ['', 'naïve'] },
      ],
      { header: ['s.no', 'PRODUCT_NAME', 'input_image_urls', 'Supplier', 'Notes'], eol: '\r\n', bom: true },
    );
    const response = await upload(csv, { resize: '0.5' });
    expect(response.statusCode).toBe(202);
    const { requestId } = response.json<CreatedRequestDto>();
    const status = await waitForTerminal(harness.app, requestId);
    expect(status).toMatchObject({ status: 'completed', options: { resize: 0.5 } });

    const exported = await harness.app.inject({ method: 'GET', url: `/export/${requestId}/` });
    const rows: string[][] = parse(exported.rawPayload, { bom: true });
    expect(rows[0]).toEqual([
      's.no',
      'PRODUCT_NAME',
      'input_image_urls',
      'Supplier',
      'Notes',
      'Output Image Urls',
      'Errors',
    ]);
    expect(rows[1].slice(0, 2)).toEqual(['1', 'Chair, oak "classic"']);
    // Formula-looking input is neutralised on the way out.
    expect(rows[1][3]).toBe(`'=HYPERLINK("x")`);
    expect(rows[1][4]).toBe('café');
    expect(rows[2][1]).toBe('Lamp\nwith newline');
    const duplicates = rows[1][5].split(',');
    expect(duplicates).toHaveLength(2);
    for (const url of duplicates) {
      expect(await sharp(await outputImage(url)).metadata()).toMatchObject({ width: 320, height: 240 });
    }
    expect(await sharp(await outputImage(rows[2][5])).metadata()).toMatchObject({ width: 400, height: 300 });
  });

  it('fetches a URL repeated within a request once and gives every occurrence its outcome', async () => {
    images.route('/repeated.jpg', { body: images.images.get('/photo2.jpg'), type: 'image/jpeg' });
    images.route('/repeated-missing.jpg', { status: 404, type: 'text/plain', body: 'not found' });
    const [photo, missing] = [images.url('/repeated.jpg'), images.url('/repeated-missing.jpg')];
    const csv = productCsv([
      { serial: 1, name: 'Twice in one row', urls: [photo, photo] },
      { serial: 2, name: 'Again, and a 404', urls: [missing, photo] },
      { serial: 3, name: 'The 404 again', urls: [missing] },
    ]);
    const response = await upload(csv);
    expect(response.json()).toMatchObject({ productCount: 3, imageCount: 5 });
    const { requestId } = response.json<CreatedRequestDto>();
    const status = await waitForTerminal(harness.app, requestId);
    expect(status).toMatchObject({
      status: 'completed_with_errors',
      counts: { products: { total: 3, processed: 3 }, images: { total: 5, succeeded: 3, failed: 2, pending: 0 } },
    });
    expect(images.hitCount('/repeated.jpg')).toBe(1);
    expect(images.hitCount('/repeated-missing.jpg')).toBe(1);

    const rows: string[][] = parse(
      (await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/export` })).rawPayload,
      { bom: true },
    );
    const output = rows[1][3].split(',')[0];
    expect(output).toMatch(/^http/);
    expect(rows.slice(1).map((row) => row[3])).toEqual([`${output},${output}`, `,${output}`, '']);
    expect(rows[3][4]).toContain('HTTP_404');
    expect(await sharp(await outputImage(output)).metadata()).toMatchObject({ width: 800, height: 600 });
  });

  it('rejects a CSV with several bad rows with every issue and stores nothing', async () => {
    const orm = harness.app.get(MikroORM);
    const count = async () =>
      (await orm.em.fork().execute<{ n: string }[]>('SELECT count(*) AS n FROM processing_request'))[0].n;
    const before = await count();
    const csv = productCsv([
      { serial: 1, name: 'Good', urls: [images.url('/photo.jpg')] },
      { serial: '', name: 'No serial', urls: [images.url('/photo.jpg')] },
      { serial: 3, name: 'Bad URL', urls: ['ftp://example.com/a.jpg', 'not a url'] },
      { serial: 4, name: '', urls: [] },
    ]);
    const response = await upload(csv);
    expect(response.statusCode).toBe(422);
    expect(response.headers['content-type']).toContain('application/problem+json');
    const problem = response.json<ProblemDocumentDto>();
    expect(problem).toMatchObject({ status: 422, code: 'CSV_INVALID' });
    const found = problem.errors?.map((issue) => [issue.row, issue.line, issue.column, issue.code]);
    expect(found).toEqual(
      expect.arrayContaining([
        [2, 3, 'S. No.', 'MISSING_SERIAL_NUMBER'],
        [3, 4, 'Input Image Urls', 'UNSUPPORTED_URL_SCHEME'],
        [3, 4, 'Input Image Urls', 'INVALID_URL'],
        [4, 5, 'Product Name', 'MISSING_PRODUCT_NAME'],
        [4, 5, 'Input Image Urls', 'MISSING_IMAGE_URLS'],
      ]),
    );
    expect(await count()).toBe(before);
  });

  it.each([
    ['not multipart', { headers: { 'content-type': 'application/json' }, payload: '{}' }, 400, 'NOT_MULTIPART'],
    ['a raw CSV body', { headers: { 'content-type': 'text/csv' }, payload: 'a,b\n1,2\n' }, 400, 'NOT_MULTIPART'],
    ['no file part', multipart({ resize: '0.5' }), 400, 'FILE_MISSING'],
    ['an empty file', multipart({}, { content: '' }), 400, 'FILE_EMPTY'],
    [
      'a PNG instead of a CSV',
      multipart({}, { content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]) }),
      400,
      'NOT_CSV',
    ],
    ['an unknown field', multipart({ colour: 'red' }, { content: VALID_CSV }), 400, 'VALIDATION_FAILED'],
    ['a resize out of range', multipart({ resize: '2' }, { content: VALID_CSV }), 400, 'VALIDATION_FAILED'],
    [
      'a webhook URL that is not http(s)',
      multipart({ webhookUrl: 'ftp://x.test/' }, { content: VALID_CSV }),
      422,
      'WEBHOOK_URL_INVALID',
    ],
  ])('answers %s with a problem document', async (_case, request, status, code) => {
    const response = await harness.app.inject({ method: 'POST', url: '/api/v1/requests', ...request });
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toContain('application/problem+json');
    expect(response.json()).toMatchObject({ status, code });
  });

  function manyRows(count: number): string {
    return productCsv(
      Array.from({ length: count }, (_, index) => ({
        serial: index + 1,
        name: `SKU${index + 1}`,
        urls: [images.url('/photo.jpg')],
      })),
    );
  }

  it('answers 413 for a CSV over the size limit', async () => {
    const big = manyRows(LIMIT_ROWS).padEnd(LIMIT_BYTES + 1, '\n');
    const response = await upload(big);
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ code: 'CSV_TOO_LARGE', limitBytes: LIMIT_BYTES });
  });

  it('answers 422 for a CSV over the row limit', async () => {
    const response = await upload(manyRows(LIMIT_ROWS + 1));
    expect(response.statusCode).toBe(422);
    expect(response.json<ProblemDocumentDto>().errors).toEqual([
      expect.objectContaining({ code: 'TOO_MANY_ROWS', row: LIMIT_ROWS + 1 }),
    ]);
  });

  it('answers 400 for a malformed id, 404 for an unknown one, and 409 for an unfinished export', async () => {
    expect((await harness.app.inject({ method: 'GET', url: '/api/v1/requests/nope' })).json()).toMatchObject({
      status: 400,
      code: 'INVALID_ID',
    });
    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${unknown}` })).json()).toMatchObject({
      status: 404,
      code: 'REQUEST_NOT_FOUND',
    });

    const slow = productCsv([{ serial: 1, name: 'Slow', urls: [images.url('/slow.jpg')] }]);
    const { requestId } = (await upload(slow)).json<CreatedRequestDto>();
    const early = await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/export` });
    expect(early.statusCode).toBe(409);
    expect(early.json()).toMatchObject({ code: 'REQUEST_NOT_FINISHED' });
    await waitForTerminal(harness.app, requestId);
  });

  it('serves the original designs aliases', async () => {
    const csv = productCsv([{ serial: 7, name: 'Alias', urls: [images.url('/photo.jpg')] }]);
    const response = await harness.app.inject({ method: 'POST', url: '/upload/', ...multipart({}, { content: csv }) });
    expect(response.statusCode).toBe(202);
    const { request_id: requestId } = response.json<CreatedRequestDto & { request_id: string }>();
    await waitForTerminal(harness.app, requestId);
    const legacy = await harness.app.inject({ method: 'GET', url: `/api/status/?request_id=${requestId}` });
    expect(legacy.json()).toMatchObject({ request_id: requestId, status: 'completed', Completed: true });
    expect(legacy.json<LegacyStatusDto>().Created_at).toEqual(expect.any(String));
    expect((await harness.app.inject({ method: 'GET', url: `/status/${requestId}/` })).json()).toMatchObject({
      status: 'completed',
    });
  });

  it('exports Prometheus metrics for HTTP routes, images and the open images', async () => {
    const response = await harness.app.inject({ method: 'GET', url: '/metrics' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const text = response.body;
    const value = (line: RegExp) => Number(text.match(line)?.[1] ?? NaN);
    // The earlier tests in this file processed images, some failing with 404.
    expect(
      value(/^pixbatch_images_processed_total\{outcome="succeeded",code="",obtained="fetched"\} (\d+)/m),
    ).toBeGreaterThan(0);
    expect(
      value(/^pixbatch_images_processed_total\{outcome="failed",code="HTTP_404",obtained=""\} (\d+)/m),
    ).toBeGreaterThan(0);
    expect(text).toMatch(
      /pixbatch_http_request_duration_seconds_count\{method="GET",route="\/api\/v1\/requests\/:id",status_code="200"\} \d+/,
    );
    expect(text).toMatch(/^pixbatch_images_open\{state="dispatched"\} \d+/m);
    expect(text).toMatch(/^pixbatch_images_open\{state="waiting"\} \d+/m);
  });

  it("answers with the caller's request id, or a new one", async () => {
    const kept = await harness.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'trace-123' },
    });
    expect(kept.headers['x-request-id']).toBe('trace-123');
    const fresh = await harness.app.inject({
      method: 'GET',
      url: '/health/live',
      headers: { 'x-request-id': 'bad id\n' },
    });
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('reports readiness and liveness, and serves the OpenAPI document', async () => {
    expect((await harness.app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    const ready = await harness.app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ok',
      info: { database: { status: 'up' }, redis: { status: 'up' }, storage: { status: 'up' } },
    });
    const spec = await harness.app.inject({ method: 'GET', url: '/docs-json' });
    expect(Object.keys(spec.json<OpenAPIObject>().paths)).toEqual(
      expect.arrayContaining(['/api/v1/requests', '/api/v1/requests/{id}']),
    );
  });
});
