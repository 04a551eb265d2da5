import { execFile } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'csv-parse/sync';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import { S3Server } from '../support/s3-server.js';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';

const run = promisify(execFile);

interface ZipEntry {
  name: string;
  size: number;
  /** 0: stored, 8: deflated. */
  compressType: number;
  sha256: string;
}

/**
 * Reads a ZIP with Python's zipfile, an implementation independent of the one
 * that wrote it; testzip() checks every entry's CRC.
 */
async function readZip(data: Buffer): Promise<{ entries: ZipEntry[]; files: Record<string, Buffer> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pixbatch-zip-'));
  try {
    const path = join(dir, 'archive.zip');
    await writeFile(path, data);
    const script = [
      'import hashlib, json, sys, zipfile',
      'z = zipfile.ZipFile(sys.argv[1])',
      'assert z.testzip() is None, "bad CRC"',
      'print(json.dumps([{"name": i.filename, "size": i.file_size, "compressType": i.compress_type,',
      '  "data": z.read(i.filename).hex()} for i in z.infolist()]))',
    ].join('\n');
    const { stdout } = await run('python3', ['-c', script, path], { maxBuffer: 64 * 1024 * 1024 });
    const raw = JSON.parse(stdout) as (Omit<ZipEntry, 'sha256'> & { data: string })[];
    const files = Object.fromEntries(raw.map((entry) => [entry.name, Buffer.from(entry.data, 'hex')]));
    const entries = raw.map(({ data, ...entry }) => ({
      ...entry,
      sha256: createHash('sha256').update(Buffer.from(data, 'hex')).digest('hex'),
    }));
    return { entries, files };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Readable file names in output keys (issue 15 item 5) and the ZIP of a
 * request's outputs (item 6), on both storage drivers.
 */
describe.each(['local', 's3'])('file names and the archive (STORAGE_DRIVER=%s)', (driver) => {
  let images: ImageServer;
  let s3: S3Server | undefined;
  let harness: TestApp;
  let requestId: string;

  const get = (url: string) => harness.app.inject({ method: 'GET', url });

  beforeAll(async () => {
    images = await ImageServer.start();
    if (driver === 's3') s3 = await S3Server.start(['outputs']);
    harness = await startTestApp(s3 ? s3.env('outputs', { S3_PREFIX: 'archive' }) : {});
    const csv = productCsv([
      { serial: 12, name: 'Red Shoes', urls: [images.url('/photo.jpg'), images.url('/alpha.png')] },
      // A URL already used by product 12, and one that fails.
      { serial: 13, name: 'Café Mug', urls: [images.url('/photo.jpg'), images.url('/missing.jpg')] },
      // Serial numbers whose slugs collide: names stay unique.
      { serial: 'A 1', name: 'Lamp', urls: [images.url('/photo2.jpg')] },
      { serial: 'a-1', name: 'lamp', urls: [images.url('/anim.gif')] },
    ]);
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: csv, filename: 'spring catalogue.csv' }),
    });
    expect(response.statusCode).toBe(202);
    requestId = response.json<CreatedRequestDto>().requestId;
    expect(await waitForTerminal(harness.app, requestId, 30_000)).toMatchObject({ status: 'completed_with_errors' });
  }, 60_000);

  afterAll(async () => {
    await harness?.close();
    await images?.close();
    await s3?.close();
  });

  const EXPECTED_NAMES = [
    ['12-red-shoes-1.jpg', '12-red-shoes-2.png'],
    // The repeated URL takes the name of its first occurrence.
    ['12-red-shoes-1.jpg', ''],
    ['a-1-lamp-1.jpg'],
    ['a-1-lamp-2-1.gif'],
  ];

  it('names output keys by serial number, product name and position, under the request token', async () => {
    const exported = await get(`/api/v1/requests/${requestId}/export`);
    const rows: string[][] = parse(exported.rawPayload, { bom: true });
    const names = rows.slice(1).map((row) =>
      row[3].split(',').map((url) => {
        if (url === '') return '';
        const path = new URL(url).pathname;
        expect(path).toMatch(/\/images\/[0-9a-f]{32}\/[^/]+$/);
        expect(path).not.toContain(requestId);
        return path.split('/').at(-1);
      }),
    );
    expect(names).toEqual(EXPECTED_NAMES);

    const products = (await get(`/api/v1/requests/${requestId}/products`)).json<ProductPageDto>();
    const listed = products.items.map((item: { images: { outputUrl: string | null }[] }) =>
      item.images.map((image) => image.outputUrl?.split('/').at(-1) ?? ''),
    );
    expect(listed).toEqual(EXPECTED_NAMES);
  });

  it('streams a ZIP with a folder per product, every output byte for byte, and the result CSV', async () => {
    const response = await get(`/api/v1/requests/${requestId}/archive`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/zip');
    expect(response.headers['content-disposition']).toContain('filename="spring catalogue-images.zip"');
    // Streamed: the length is not known when the headers go out.
    expect(response.headers['content-length']).toBeUndefined();
    const { entries, files } = await readZip(response.rawPayload);
    expect(entries.map((entry) => entry.name)).toEqual([
      '12-red-shoes/12-red-shoes-1.jpg',
      '12-red-shoes/12-red-shoes-2.png',
      '13-cafe-mug/12-red-shoes-1.jpg',
      'a-1-lamp/a-1-lamp-1.jpg',
      'a-1-lamp-2/a-1-lamp-2-1.gif',
      'spring catalogue-result.csv',
    ]);
    // Images are compressed already: stored as they are; the CSV is deflated.
    expect(entries.map((entry) => entry.compressType)).toEqual([0, 0, 0, 0, 0, 8]);

    const exported = await get(`/api/v1/requests/${requestId}/export`);
    expect(files['spring catalogue-result.csv'].equals(exported.rawPayload)).toBe(true);
    const rows: string[][] = parse(exported.rawPayload, { bom: true });
    const [first, second] = rows[1][3].split(',');
    for (const [entry, url] of [
      ['12-red-shoes/12-red-shoes-1.jpg', first],
      ['12-red-shoes/12-red-shoes-2.png', second],
      ['a-1-lamp-2/a-1-lamp-2-1.gif', rows[4][3]],
    ] as const) {
      // Served by /files from either driver.
      const served = await get(new URL(url).pathname);
      expect(served.statusCode).toBe(200);
      expect(files[entry].equals(served.rawPayload)).toBe(true);
    }
  });

  it('answers 409 before the request is finished, 404 for an unknown id and 400 for a malformed one', async () => {
    const csv = productCsv([{ serial: 1, name: 'Slow', urls: [images.url('/slow.jpg')] }]);
    const pending = (
      await harness.app.inject({ method: 'POST', url: '/api/v1/requests', ...multipart({}, { content: csv }) })
    ).json<CreatedRequestDto>();
    const early = await get(`/api/v1/requests/${pending.requestId}/archive`);
    expect(early.statusCode).toBe(409);
    expect(early.json()).toMatchObject({ code: 'REQUEST_NOT_FINISHED' });
    await waitForTerminal(harness.app, pending.requestId, 30_000);

    expect((await get(`/api/v1/requests/${randomUUID()}/archive`)).json()).toMatchObject({
      status: 404,
      code: 'REQUEST_NOT_FOUND',
    });
    const malformed = await get('/api/v1/requests/not-a-uuid/archive');
    expect(malformed.statusCode).toBe(400);
    expect(malformed.headers['content-type']).toContain('application/problem+json');
  });
});
