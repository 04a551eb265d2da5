import { randomUUID } from 'node:crypto';
import { expect } from '@jest/globals';
import { createClient, type Client } from '../../clients/typescript/src/client/index.js';
import {
  createRequest,
  exportRequest,
  getLiveness,
  getRequest,
  listProducts,
  type RequestStatusDto,
} from '../../clients/typescript/src/index.js';
import { ImageServer } from '../support/image-server.js';
import { startTestApp, TestApp } from '../support/test-app.js';

const API_KEY = 'sdk-suite-key';

/** The generated SDK against the whole app listening on a real port, as a client program would use it. */
describe('TypeScript SDK', () => {
  let images: ImageServer;
  let testApp: TestApp;
  let client: Client;
  let baseUrl: string;

  beforeAll(async () => {
    images = await ImageServer.start();
    testApp = await startTestApp({ API_KEYS: API_KEY });
    await testApp.app.listen(0, '127.0.0.1');
    baseUrl = await testApp.app.getUrl();
    client = createClient({ baseUrl, auth: API_KEY });
  });

  afterAll(async () => {
    await testApp?.close();
    await images?.close();
  });

  async function waitUntilDone(id: string): Promise<RequestStatusDto> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { data } = await getRequest({ client, path: { id }, throwOnError: true });
      if (data.completed) return data;
      if (Date.now() > deadline) throw new Error(`request ${id} still ${data.status}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('uploads a CSV, follows it to the end and downloads the result', async () => {
    const csv =
      'S. No.,Product Name,Input Image Urls,Colour\n' +
      `1,Chair,"${images.url('/photo.jpg')},${images.url('/alpha.png')}",oak\n` +
      `2,Lamp,${images.url('/missing.jpg')},brass\n`;
    const { data: created, response } = await createRequest({
      client,
      body: { file: new File([csv], 'catalogue.csv', { type: 'text/csv' }), resize: 0.5 },
      throwOnError: true,
    });
    expect(response.status).toBe(202);
    expect(created).toMatchObject({ status: 'pending', productCount: 2, imageCount: 3 });

    const done = await waitUntilDone(created.requestId);
    expect(done).toMatchObject({
      status: 'completed_with_errors',
      originalFilename: 'catalogue.csv',
      options: { resize: 0.5 },
      counts: { images: { total: 3, succeeded: 2, failed: 1, pending: 0 } },
    });
    expect(done.errors).toEqual([
      expect.objectContaining({ row: 2, code: 'HTTP_404', url: images.url('/missing.jpg') }),
    ]);

    const { data: page } = await listProducts({
      client,
      path: { id: created.requestId },
      query: { pageSize: 1 },
      throwOnError: true,
    });
    expect(page).toMatchObject({ total: 2, page: 1, pageSize: 1 });
    expect(page.items[0].images.map((image) => [image.status, image.width, image.height])).toEqual([
      ['succeeded', 320, 240],
      ['succeeded', expect.any(Number), expect.any(Number)],
    ]);

    const exported = await exportRequest({
      client,
      path: { id: created.requestId },
      parseAs: 'text',
      throwOnError: true,
    });
    expect(exported.response.headers.get('content-disposition')).toContain('catalogue-result.csv');
    const lines = exported.data.split('\r\n');
    expect(lines[0]).toBe('S. No.,Product Name,Input Image Urls,Colour,Output Image Urls,Errors');
    expect(lines[1]).toContain(page.items[0].images[0].outputUrl!);
    expect(lines[2]).toMatch(/^2,Lamp,.*,brass,,.*HTTP_404/);
  });

  it('returns problem documents as typed errors', async () => {
    const unknown = await getRequest({ client, path: { id: randomUUID() } });
    expect(unknown.response?.status).toBe(404);
    expect(unknown.error).toMatchObject({ status: 404, code: 'REQUEST_NOT_FOUND' });

    const invalid = await createRequest({
      client,
      body: { file: new File(['S. No.,Product Name,Input Image Urls\n1,,ftp://x/a.jpg\n'], 'bad.csv') },
    });
    expect(invalid.response?.status).toBe(422);
    expect(invalid.error).toMatchObject({
      code: 'CSV_INVALID',
      errors: expect.arrayContaining([expect.objectContaining({ row: 1 })]),
    });
  });

  it('without a key, protected routes answer 401 while the probes stay open', async () => {
    const anonymous = createClient({ baseUrl });
    const refused = await getRequest({ client: anonymous, path: { id: randomUUID() } });
    expect(refused.response?.status).toBe(401);
    expect(refused.error).toMatchObject({ code: 'API_KEY_MISSING' });
    const probe = await getLiveness({ client: anonymous });
    expect(probe.response?.status).toBe(200);
  });
});
