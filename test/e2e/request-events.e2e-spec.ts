import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FLUSH_MS } from '../../src/processing/chunk-work-log.js';
import { productCsv } from '../factories/csv.factory.js';
import { AppProcess } from '../support/app-process.js';
import { freePort } from '../support/free-port.js';
import { ImageServer } from '../support/image-server.js';
import { readEvents, type ReceivedEvent } from '../support/sse-client.js';
import { multipart } from '../support/test-app.js';
import { testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';

const SLOW = 90_000;
// A chunk writes its outcomes between two images once FLUSH_MS has passed since its
// last write, and when it ends. Each image takes at least half of FLUSH_MS here, so
// a write comes at most one and a half FLUSH_MS after the one before, and 12 images
// (6 FLUSH_MS of work, one lane) give at least three writes before the last, however
// fast the machine: three progress events, whether or not the stream opens early
// enough to see the request pending. (8 images of a quarter each gave two, sometimes.)
const IMAGES = 12;
const IMAGE_DELAY_MS = FLUSH_MS / 2;

interface ProgressData {
  status: string;
  counts: { images: { total: number; succeeded: number; failed: number; cancelled: number; pending: number } };
  percent: number;
  imagesPerSecond: number | null;
  etaSeconds: number | null;
}

const dataOf = (event: ReceivedEvent) => JSON.parse(event.data) as ProgressData;

/**
 * Live progress across processes, as deployed: the built service as an API
 * process and a separate worker process (dist/src/main.js; npm run build
 * first). The worker records each outcome in PostgreSQL; the API process
 * only reads the counters, so whatever reaches the stream came from the
 * other process.
 */
describe('GET /api/v1/requests/{id}/events (Server-Sent Events)', () => {
  let images: ImageServer;
  let api: AppProcess;
  let worker: AppProcess;
  let base: string;

  beforeAll(async () => {
    images = await ImageServer.start();
    const port = await freePort();
    const env = testEnv({ PORT: String(port), WORKER_CONCURRENCY: '1' });
    const inherited = { ...process.env };
    delete inherited.NODE_OPTIONS;
    const logs = mkdtempSync(join(tmpdir(), 'pixbatch-sse-'));
    api = AppProcess.spawn(
      { ...(inherited as Record<string, string>), ...env, APP_ROLE: 'api' },
      join(logs, 'api.log'),
    );
    worker = AppProcess.spawn(
      { ...(inherited as Record<string, string>), ...env, APP_ROLE: 'worker' },
      join(logs, 'worker.log'),
    );
    base = `http://127.0.0.1:${port}`;
    await waitUntil(
      'the API to answer',
      async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok === true,
      30_000,
    );
  }, SLOW);

  afterAll(async () => {
    await api?.kill('SIGTERM');
    await worker?.kill('SIGTERM');
    await images?.close();
  });

  async function submit(paths: string[]): Promise<string> {
    const csv = productCsv(paths.map((path, i) => ({ serial: i + 1, name: `P${i + 1}`, urls: [images.url(path)] })));
    const body = multipart({}, { content: csv });
    const response = await fetch(`${base}/api/v1/requests`, {
      method: 'POST',
      headers: body.headers,
      body: body.payload,
    });
    expect(response.status).toBe(202);
    return ((await response.json()) as { requestId: string }).requestId;
  }

  describe('a request processed by the other process', () => {
    let requestId: string;
    let stream: Awaited<ReturnType<typeof readEvents>>;

    beforeAll(async () => {
      for (let i = 1; i <= IMAGES; i++) {
        images.route(`/sse/${i}.jpg`, {
          body: images.images.get('/photo.jpg'),
          type: 'image/jpeg',
          delayMs: IMAGE_DELAY_MS,
        });
      }
      requestId = await submit(Array.from({ length: IMAGES }, (_, i) => `/sse/${i + 1}.jpg`));
      stream = await readEvents(`${base}/api/v1/requests/${requestId}/events`);
    }, SLOW);

    it('answers text/event-stream and ends the stream after one terminal event', () => {
      expect(stream.status).toBe(200);
      expect(stream.contentType).toMatch(/^text\/event-stream/);
      expect(stream.ended).toBe(true);
      expect(stream.events.filter((event) => event.event === 'done')).toHaveLength(1);
      expect(stream.events.at(-1)).toMatchObject({ event: 'done' });
      expect(dataOf(stream.events.at(-1)!)).toMatchObject({
        status: 'completed',
        percent: 100,
        counts: { images: { total: IMAGES, succeeded: IMAGES, failed: 0, cancelled: 0, pending: 0 } },
      });
    });

    it('sends progress events as the worker counts images, never going back, at most four a second', () => {
      const progress = stream.events.filter((event) => event.event === 'progress');
      expect(progress.length).toBeGreaterThanOrEqual(3);
      // The dispatcher hands the images out a moment after the upload, so the stream
      // may open on the request still pending: once at most, first, nothing counted.
      // Every later event is news because its count is.
      const statuses = progress.map((event) => dataOf(event).status);
      const waiting = statuses[0] === 'pending' ? 1 : 0;
      expect(statuses.slice(waiting)).toEqual(statuses.slice(waiting).map(() => 'processing'));
      if (waiting) expect(dataOf(progress[0]).counts.images.pending).toBe(IMAGES);
      const done = progress.slice(waiting).map((event) => IMAGES - dataOf(event).counts.images.pending);
      expect(done).toEqual([...done].sort((a, b) => a - b));
      expect(new Set(done).size).toBe(done.length);
      const all = stream.events;
      for (let i = 1; i < all.length; i++) expect(all[i].at - all[i - 1].at).toBeGreaterThanOrEqual(150);
      // Every event id is distinct: it names the state the event reports.
      expect(new Set(all.map((event) => event.id)).size).toBe(all.length);
    });

    it('reports the pace and the time left once images are being counted', () => {
      const measured = stream.events
        .map(dataOf)
        .filter((data) => data.imagesPerSecond !== null && data.counts.images.pending > 0);
      expect(measured.length).toBeGreaterThan(0);
      for (const data of measured) {
        expect(data.imagesPerSecond).toBeGreaterThan(0);
        expect(data.etaSeconds).toBeGreaterThanOrEqual(0);
      }
    });

    it('resumes with Last-Event-ID: after a progress event only what came later, after the terminal event nothing', async () => {
      const progress = stream.events.find((event) => event.event === 'progress')!;
      const resumed = await readEvents(`${base}/api/v1/requests/${requestId}/events`, {
        'last-event-id': progress.id!,
      });
      expect(resumed.ended).toBe(true);
      expect(resumed.events.map((event) => event.event)).toEqual(['done']);

      const last = stream.events.at(-1)!;
      const finished = await readEvents(`${base}/api/v1/requests/${requestId}/events`, { 'last-event-id': last.id! });
      expect(finished).toMatchObject({ status: 200, ended: true, events: [] });
    });
  });

  it(
    'does not repeat the current state to a client that reconnects with its id while the request runs',
    async () => {
      images.route('/sse/held.jpg', { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 2000 });
      const requestId = await submit(['/sse/held.jpg']);
      // The image is held for 2 s: whatever this read sees (pending, then processing once the
      // dispatcher has handed the image out) is the request still running.
      const first = await readEvents(`${base}/api/v1/requests/${requestId}/events`, {}, 300);
      expect(first.events.length).toBeGreaterThanOrEqual(1);
      expect(first.events.every((event) => event.event === 'progress')).toBe(true);
      const seen = first.events.at(-1)!;
      const again = await readEvents(
        `${base}/api/v1/requests/${requestId}/events`,
        { 'last-event-id': seen.id! },
        20_000,
      );
      expect(again.ended).toBe(true);
      // The state may still move on (pending → processing) before the end, which is news;
      // what was already seen is never sent again.
      const ids = again.events.map((event) => event.id);
      for (const event of first.events) expect(ids).not.toContain(event.id);
      expect(again.events.at(-1)).toMatchObject({ event: 'done' });
    },
    SLOW,
  );

  it('answers an unknown request with a 404 problem document, not a stream', async () => {
    const response = await fetch(`${base}/api/v1/requests/3f2b1c4e-8d9a-4b7c-9e1f-2a3b4c5d6e7f/events`);
    expect(response.status).toBe(404);
    expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
    expect(await response.json()).toMatchObject({ code: 'REQUEST_NOT_FOUND' });
  });

  it(
    'ends open streams when the API process stops, so it can exit (clients reconnect elsewhere)',
    async () => {
      images.route('/sse/long.jpg', { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 20_000 });
      const requestId = await submit(['/sse/long.jpg']);
      const stream = readEvents(`${base}/api/v1/requests/${requestId}/events`, {}, 30_000);
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const stopping = Date.now();
      await api.kill('SIGTERM');
      const read = await stream;
      expect(read.ended).toBe(true);
      // pending, then processing once the worker holds the image; no done event: the request goes on.
      expect(read.events.length).toBeGreaterThanOrEqual(1);
      expect(read.events.every((event) => event.event === 'progress')).toBe(true);
      expect(Date.now() - stopping).toBeLessThan(10_000);
    },
    SLOW,
  );
});
