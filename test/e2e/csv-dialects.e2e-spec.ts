import { readFileSync } from 'node:fs';
import { expect } from '@jest/globals';
import { MikroORM } from '@mikro-orm/postgresql';
import { parse } from 'csv-parse/sync';
import type { ProblemDocumentDto } from '../../src/common/problem-document.dto.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';

const fixture = (name: string) => readFileSync(new URL(`../fixtures/csv/${name}`, import.meta.url));
/** A problem document apart from its `instance`, the path it answered. */
function withoutInstance(document: Record<string, unknown>): Record<string, unknown> {
  const problem = { ...document };
  delete problem.instance;
  return problem;
}

const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const VALID_CSV = 'S. No.,Product Name,Input Image Urls\n1,SKU1,http://127.0.0.1/a.jpg\n';

/** What every fixture holds (test/fixtures/csv/source.csv), as the service must read it. */
const FIXTURE_PRODUCTS = [
  { serial_number: '1', name: 'Café au lait mug', input_urls: ['http://127.0.0.1/a.jpg', 'http://127.0.0.1/b.jpg'] },
  { serial_number: '2', name: '日本 teapot', input_urls: ['http://127.0.0.1/c.jpg'] },
  {
    serial_number: '3',
    name: 'Tea; green, loose | 100g',
    input_urls: ['http://127.0.0.1/e.jpg', 'http://127.0.0.1/f.jpg'],
  },
];

const DIALECTS: [string, string, string, boolean][] = [
  ['libreoffice-semicolon.csv', ';', 'utf-8', false],
  ['libreoffice-tab.csv', '\t', 'utf-8', false],
  ['libreoffice-pipe.csv', '|', 'utf-8', false],
  ['libreoffice-utf16le-tab.csv', '\t', 'utf-16le', false],
  ['libreoffice-utf16le-semicolon.csv', ';', 'utf-16le', false],
  ['utf16be-tab.csv', '\t', 'utf-16be', false],
  ['excel-sep-line.csv', ';', 'utf-8', true],
];

/**
 * CSVs as spreadsheets write them, through the HTTP API: the check route and
 * the upload read them alike, the export answers in their delimiter. The
 * fixtures' images are on 127.0.0.1, which this suite does not allow, so every
 * image fails at once (BLOCKED_ADDRESS) and requests finish without a fetch.
 */
describe('CSV dialects, the check route and upload fields', () => {
  let harness: TestApp;
  let orm: MikroORM;

  beforeAll(async () => {
    harness = await startTestApp({ ALLOW_PRIVATE_NETWORKS: 'false' });
    orm = harness.app.get(MikroORM);
  });

  afterAll(async () => {
    await harness?.close();
  });

  function post(url: string, content: string | Buffer, fields: Record<string, string> = {}, filename = 'products.csv') {
    return harness.app.inject({ method: 'POST', url, ...multipart(fields, { content, filename }) });
  }
  const upload = (content: string | Buffer, fields: Record<string, string> = {}, filename?: string) =>
    post('/api/v1/requests', content, fields, filename);
  const check = (content: string | Buffer, fields: Record<string, string> = {}, filename?: string) =>
    post('/api/v1/requests/validate', content, fields, filename);

  async function requestCount(): Promise<number> {
    const [row] = await orm.em.fork().execute<{ n: string }[]>('SELECT count(*) AS n FROM processing_request');
    return Number(row.n);
  }

  describe.each(DIALECTS)('the spreadsheet export %s', (name, delimiter, encoding, sepLine) => {
    it('is checked without storing anything', async () => {
      const before = await requestCount();
      const response = await check(fixture(name));
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual({
        delimiter,
        encoding,
        sepLine,
        columns: ['S. No.', 'Product Name', 'Input Image Urls', 'Notes'],
        productCount: 3,
        urlCount: 5,
        firstRows: FIXTURE_PRODUCTS.map((product, index) => ({
          row: index + 1,
          line: index + (sepLine ? 3 : 2),
          serialNumber: product.serial_number,
          name: product.name,
          urls: product.input_urls,
          cells: expect.any(Array),
        })),
      });
      expect(await requestCount()).toBe(before);
    });

    it('is accepted with the right rows and exported in its own delimiter, UTF-8 with a BOM', async () => {
      const response = await upload(fixture(name), {}, name);
      expect(response.statusCode).toBe(202);
      const { requestId } = response.json<CreatedRequestDto>();
      const products = await orm.em.fork().execute(
        `SELECT p.serial_number, p.name,
                  (SELECT jsonb_agg(i.input_url ORDER BY i.position) FROM image i WHERE i.product_id = p.id) AS input_urls
             FROM product p WHERE p.request_id = ? ORDER BY p.row_number`,
        [requestId],
      );
      expect(products).toEqual(FIXTURE_PRODUCTS);

      const status = await waitForTerminal(harness.app, requestId);
      expect(status.status).toBe('failed');
      const exported = await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}/export` });
      expect(exported.statusCode).toBe(200);
      const bytes = exported.rawPayload;
      expect(bytes.subarray(0, 3)).toEqual(BOM);
      const text = bytes.subarray(3).toString('utf8');
      expect(text).not.toMatch(/^sep=/i);
      expect(text.split('\r\n')[0]).toBe(
        ['S. No.', 'Product Name', 'Input Image Urls', 'Notes', 'Output Image Urls', 'Errors'].join(delimiter),
      );
      const records = parse(text, { delimiter });
      expect(records.slice(1).map((record) => record.slice(0, 5))).toEqual([
        ['1', 'Café au lait mug', 'http://127.0.0.1/a.jpg, http://127.0.0.1/b.jpg', 'crème', ','],
        ['2', '日本 teapot', 'http://127.0.0.1/c.jpg', '', ''],
        // The cell was uploaded as "http://127.0.0.1/e.jpg ,, http://127.0.0.1/f.jpg".
        [
          '3',
          'Tea; green, loose | 100g',
          'http://127.0.0.1/e.jpg, http://127.0.0.1/f.jpg',
          'two spaces and an empty item',
          ',',
        ],
      ]);
      for (const record of records.slice(1)) {
        expect(record[2].split(',')).toHaveLength(record[4].split(',').length);
        expect(record[5]).toContain('BLOCKED_ADDRESS');
      }
    });
  });

  it.each([
    ['products.xlsx', 'xlsx'],
    ['products.xls', 'xls'],
  ])('refuses the workbook %s with SPREADSHEET_NOT_CSV on both routes, storing nothing', async (name, format) => {
    const before = await requestCount();
    for (const send of [upload, check]) {
      const response = await send(fixture(name), {}, name);
      expect(response.statusCode).toBe(415);
      expect(response.headers['content-type']).toContain('application/problem+json');
      expect(response.json()).toMatchObject({
        code: 'SPREADSHEET_NOT_CSV',
        format,
        detail: expect.stringContaining('CSV UTF-8'),
      });
    }
    expect(await requestCount()).toBe(before);
  });

  it('says what separator it saw when the header still does not match, on both routes alike', async () => {
    const csv = 'Id;Title;Pictures\r\n1;A;http://127.0.0.1/a.jpg\r\n';
    const uploaded = await upload(csv);
    const checked = await check(csv);
    expect(uploaded.statusCode).toBe(422);
    expect(checked.statusCode).toBe(422);
    expect(withoutInstance(checked.json())).toEqual(withoutInstance(uploaded.json()));
    expect(checked.json()).toMatchObject({ code: 'CSV_INVALID', errorCount: 3 });
    expect(checked.json<ProblemDocumentDto>().errors?.[0].message).toContain('separated by ";" (semicolon)');
    expect(checked.json<ProblemDocumentDto>().errors?.[0].message).toContain('"Id", "Title", "Pictures"');
  });

  it('answers the check route with the same problem documents as the upload for bad bodies', async () => {
    const rowErrors = 'S. No.,Product Name,Input Image Urls\n1,,ftp://x/a.jpg\n1,B,\n';
    for (const body of [
      multipart({}, { content: rowErrors }),
      multipart({ resize: '2' }, { content: VALID_CSV }),
      multipart({ resize: '0.5' }),
      multipart({}, { content: '' }),
      multipart({}, { content: Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00]) }),
      { payload: '{}', headers: { 'content-type': 'application/json' } },
    ]) {
      const uploaded = await harness.app.inject({ method: 'POST', url: '/api/v1/requests', ...body });
      const checked = await harness.app.inject({ method: 'POST', url: '/api/v1/requests/validate', ...body });
      expect(uploaded.statusCode).toBeGreaterThanOrEqual(400);
      expect([checked.statusCode, withoutInstance(checked.json())]).toEqual([
        uploaded.statusCode,
        withoutInstance(uploaded.json()),
      ]);
    }
  });

  it('takes empty fields, as Swagger UI sends cleared ones, as absent', async () => {
    const fields = { webhookUrl: '', webhookEvents: '', resize: '' };
    const checked = await check(VALID_CSV, fields);
    expect(checked.statusCode).toBe(200);
    const uploaded = await upload(VALID_CSV, fields);
    expect(uploaded.statusCode).toBe(202);
    const status = await harness.app.inject({
      method: 'GET',
      url: `/api/v1/requests/${uploaded.json<CreatedRequestDto>().requestId}`,
    });
    expect(status.json()).toMatchObject({ options: { resize: null } });
  });

  it.each(['50%', '0', '2', 'half', '1e9'])('gives one clear message for resize=%j', async (value) => {
    const response = await upload(VALID_CSV, { resize: value });
    expect(response.statusCode).toBe(400);
    const body = response.json<ProblemDocumentDto>();
    expect(body).toMatchObject({ code: 'VALIDATION_FAILED' });
    expect(body.errors).toEqual([{ field: 'resize', message: expect.stringContaining('from 0.01 to 1') }]);
    expect(body.detail?.split(';')).toHaveLength(1);
  });
});
