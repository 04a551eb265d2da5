import { MikroORM } from '@mikro-orm/postgresql';
import type { CreatedRequestDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import { TestApp, multipart, startTestApp } from '../support/test-app.js';

describe('Idempotency-Key on upload', () => {
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

  const csv = () => productCsv([{ serial: 1, name: 'Retry me', urls: [images.url('/photo.jpg')] }]);
  const upload = (content: string, key?: string, fields: Record<string, string> = {}) => {
    const body = multipart(fields, { content });
    return harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      payload: body.payload,
      headers: { ...body.headers, ...(key ? { 'idempotency-key': key } : {}) },
    });
  };

  async function requestsWithKey(fragment: string): Promise<number> {
    const rows = await harness.app
      .get(MikroORM)
      .em.fork()
      .execute<{ n: string }[]>('SELECT count(*) AS n FROM processing_request WHERE idempotency_key LIKE ?', [
        `%${fragment}`,
      ]);
    return Number(rows[0].n);
  }

  it('returns the same request for the same key and file, without storing a second one', async () => {
    const first = await upload(csv(), 'order-42');
    expect(first.statusCode).toBe(202);
    const again = await upload(csv(), 'order-42');
    expect(again.statusCode).toBe(202);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.json<CreatedRequestDto>().requestId).toBe(first.json<CreatedRequestDto>().requestId);
    expect(await requestsWithKey('order-42')).toBe(1);
  });

  it('answers 409 when the key comes back with a different file or options', async () => {
    const first = await upload(csv(), 'order-43');
    expect(first.statusCode).toBe(202);
    const otherFile = await upload(
      productCsv([{ serial: 2, name: 'Other', urls: [images.url('/photo.jpg')] }]),
      'order-43',
    );
    expect(otherFile.statusCode).toBe(409);
    expect(otherFile.json()).toMatchObject({
      code: 'IDEMPOTENCY_KEY_REUSED',
      requestId: first.json<CreatedRequestDto>().requestId,
    });
    const otherOptions = await upload(csv(), 'order-43', { resize: '0.5' });
    expect(otherOptions.statusCode).toBe(409);
  });

  it('creates one request when two retries race', async () => {
    const [a, b] = await Promise.all([upload(csv(), 'order-44'), upload(csv(), 'order-44')]);
    expect([a.statusCode, b.statusCode]).toEqual([202, 202]);
    expect(a.json<CreatedRequestDto>().requestId).toBe(b.json<CreatedRequestDto>().requestId);
    expect(await requestsWithKey('order-44')).toBe(1);
  });

  it('rejects a malformed key', async () => {
    const response = await upload(csv(), 'has spaces');
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ code: 'INVALID_IDEMPOTENCY_KEY' });
  });

  it('treats uploads without a key as distinct', async () => {
    const [a, b] = [await upload(csv()), await upload(csv())];
    expect(a.json<CreatedRequestDto>().requestId).not.toBe(b.json<CreatedRequestDto>().requestId);
  });
});
