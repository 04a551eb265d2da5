import { EntityManager } from '@mikro-orm/postgresql';
import type { RequestListDto } from '../../src/requests/dto/request-list.dto.js';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { ImageServer } from '../support/image-server.js';
import { TestApp, multipart, startTestApp, waitForTerminal } from '../support/test-app.js';

/**
 * The status names the paused source hosts a request still has images waiting
 * on (`pausedHosts`). The pause is written straight into source_host before the
 * upload, as a 429 with Retry-After would have left it: the dispatcher then
 * hands out none of the host's images, so they wait, with no timing involved.
 */
describe('Status: the paused source hosts a request waits on', () => {
  let images: ImageServer;
  let harness: TestApp;
  let em: EntityManager;
  /** The image server's host and port, as the image rows' source_host spells it. */
  let host: string;
  const otherDeployment = `elsewhere/${process.pid}`;

  beforeAll(async () => {
    images = await ImageServer.start();
    host = new URL(images.baseUrl).host;
    harness = await startTestApp();
    em = harness.app.get(EntityManager).fork();
  });

  afterAll(async () => {
    await em?.execute('DELETE FROM source_host WHERE deployment IN (?, ?)', [
      harness.config.deployment,
      otherDeployment,
    ]);
    await harness?.close();
    await images?.close();
  });

  async function upload(paths: string[]): Promise<string> {
    const csv = productCsv(
      paths.map((path, index) => ({ serial: index + 1, name: `SKU${index + 1}`, urls: [images.url(path)] })),
    );
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      ...multipart({}, { content: csv }),
    });
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  async function get<T>(url: string): Promise<T> {
    const response = await harness.app.inject({ method: 'GET', url });
    expect(response.statusCode).toBe(200);
    return response.json<T>();
  }

  /** The status under its three routes: v1 and the two aliases of the original design. */
  async function pausedHostsEverywhere(requestId: string): Promise<unknown[]> {
    return Promise.all(
      [`/api/v1/requests/${requestId}`, `/status/${requestId}`, `/api/status?request_id=${requestId}`].map(
        async (url) => (await get<RequestStatusDto>(url)).pausedHosts,
      ),
    );
  }

  it('is an empty list for a request that waits on no paused host', async () => {
    const requestId = await upload(['/photo.jpg']);
    const status = await waitForTerminal(harness.app, requestId);
    expect(status).toMatchObject({ status: 'completed', pausedHosts: [] });
    expect(await pausedHostsEverywhere(requestId)).toEqual([[], [], []]);
  });

  it('names the paused host with the end of its pause until the pause ends, and only on the request itself', async () => {
    const until = new Date(Date.now() + 60 * 60_000);
    await em.execute(
      'INSERT INTO source_host (deployment, host, paused_until) VALUES (?, ?, ?), (?, ?, ?), (?, ?, ?)',
      [
        harness.config.deployment,
        host,
        until,
        // Paused too, but the request has no image there.
        harness.config.deployment,
        'cdn.elsewhere.test:443',
        until,
        // The same host paused for another deployment (another queue prefix) is that deployment's business.
        otherDeployment,
        host,
        new Date(until.getTime() + 60_000),
      ],
    );
    const requestId = await upload(['/photo.jpg', '/alpha.png']);

    const waiting = await get<RequestStatusDto>(`/api/v1/requests/${requestId}`);
    expect(waiting).toMatchObject({ completed: false, counts: { images: { total: 2, pending: 2 } } });
    expect(waiting.pausedHosts).toEqual([{ host, until: until.toISOString() }]);
    expect(await pausedHostsEverywhere(requestId)).toEqual(Array(3).fill([{ host, until: until.toISOString() }]));
    expect(images.hitCount('/alpha.png')).toBe(0);

    // The list stays lean: its summaries leave the paused hosts out, as they leave out the errors.
    const list = await get<RequestListDto>('/api/v1/requests?limit=200');
    const summary = list.items.find((item) => item.requestId === requestId);
    expect(summary).toBeDefined();
    expect(summary).not.toHaveProperty('pausedHosts');

    // The pause ends: the host leaves the status at once, and its images are fetched.
    await em.execute('UPDATE source_host SET paused_until = now() WHERE deployment = ? AND host = ?', [
      harness.config.deployment,
      host,
    ]);
    expect((await get<RequestStatusDto>(`/api/v1/requests/${requestId}`)).pausedHosts).toEqual([]);
    const done = await waitForTerminal(harness.app, requestId);
    expect(done).toMatchObject({ status: 'completed', counts: { images: { succeeded: 2 } }, pausedHosts: [] });
    expect(images.hitCount('/alpha.png')).toBe(1);
  });
});
