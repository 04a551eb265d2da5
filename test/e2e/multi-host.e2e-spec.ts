import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { parse } from 'csv-parse/sync';
import sharp from 'sharp';
import { productCsv } from '../factories/csv.factory.js';
import { AppProcess } from '../support/app-process.js';
import { freePort } from '../support/free-port.js';
import { ImageServer } from '../support/image-server.js';
import { S3Server } from '../support/s3-server.js';
import { cleanUp } from '../support/test-app.js';
import { testConfig, testEnv } from '../support/test-env.js';
import { waitUntil } from '../support/wait-until.js';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const BUCKET = 'pixbatch';
// A process boots in about 20 s here while other suites load the two cores, in minutes at a load of 30.
const READY_WITHIN_MS = 180_000;

interface Host {
  process: AppProcess;
  url: string;
  dir: string;
}

/**
 * Several hosts, one bucket: two API processes and two workers from the built
 * service (npm run build), each in a working directory of its own with its own
 * STORAGE_DIR, nothing on disk in common; STORAGE_DRIVER=s3 against s3rver on
 * loopback, one PostgreSQL and Redis. Budget: about two minutes here.
 */
describe('API and workers on separate hosts with STORAGE_DRIVER=s3', () => {
  let s3: S3Server;
  let images: ImageServer;
  let env: Record<string, string>;
  let api: Host;
  let secondApi: Host;
  let workers: Host[];
  let misconfigured: Host;
  const hosts: Host[] = [];

  async function startHost(
    name: string,
    role: 'api' | 'worker',
    overrides: Record<string, string> = {},
  ): Promise<Host> {
    const dir = mkdtempSync(join(tmpdir(), `pixbatch-host-${name}-`));
    const port = await freePort();
    const process = AppProcess.spawn(
      {
        ...env,
        APP_ROLE: role,
        STORAGE_DIR: join(dir, 'storage'),
        LOG_LEVEL: 'info',
        ...(role === 'api' ? { PORT: String(port) } : { METRICS_PORT: String(port) }),
        ...overrides,
      },
      join(dir, 'service.log'),
      dir,
    );
    const host = { process, url: `http://127.0.0.1:${port}`, dir };
    hosts.push(host);
    return host;
  }

  async function untilReady(host: Host, status = 200): Promise<void> {
    try {
      await waitUntil(
        `${host.url}/health/ready to answer ${status}`,
        async () => (await fetch(`${host.url}/health/ready`)).status === status,
        READY_WITHIN_MS,
      );
    } catch (error) {
      const exit = host.process.child.exitCode ?? host.process.child.signalCode ?? 'still running';
      throw new Error(
        `${(error as Error).message} (process ${host.process.pid}: ${exit}); its log ends:\n${host.process.log().slice(-3000)}`,
        { cause: error },
      );
    }
  }

  async function submit(urls: string[]): Promise<string> {
    const products = [];
    for (let index = 0; index < urls.length; index += 2) {
      products.push({ serial: index / 2 + 1, name: `Product ${index / 2 + 1}`, urls: urls.slice(index, index + 2) });
    }
    const form = new FormData();
    form.append('file', new Blob([productCsv(products)], { type: 'text/csv' }), 'products.csv');
    const response = await fetch(`${api.url}/api/v1/requests`, { method: 'POST', body: form });
    expect(response.status).toBe(202);
    return ((await response.json()) as { requestId: string }).requestId;
  }

  async function status(requestId: string) {
    return (await (await fetch(`${api.url}/api/v1/requests/${requestId}`)).json()) as {
      status: string;
      completed: boolean;
      counts: { images: { total: number; succeeded: number; failed: number } };
    };
  }

  /** The request's public folder of outputs, `images/<token>/`, read from its first output URL. */
  async function outputFolder(requestId: string): Promise<string> {
    const products = (await (await fetch(`${api.url}/api/v1/requests/${requestId}/products`)).json()) as {
      items: { images: { outputUrl: string | null }[] }[];
    };
    const path = new URL(products.items[0].images[0].outputUrl!).pathname;
    const folder = /^\/files\/(images\/[0-9a-f]{32}\/)[^/]+$/.exec(path)?.[1];
    expect(folder).toBeDefined();
    return folder!;
  }

  /** On a timeout, says where the request stood and what the workers last logged. */
  async function untilTerminal(requestId: string, timeoutMs: number) {
    try {
      await waitUntil(`request ${requestId} to finish`, async () => (await status(requestId)).completed, timeoutMs);
    } catch (error) {
      const logs = workers.map(
        (host) =>
          `${host.dir} (exit ${host.process.child.exitCode ?? host.process.child.signalCode ?? 'none'}):\n${host.process.log().slice(-4000)}`,
      );
      throw new Error(
        `${(error as Error).message}; status ${JSON.stringify(await status(requestId))}; workers' logs end:\n${logs.join('\n')}`,
        { cause: error },
      );
    }
    return status(requestId);
  }

  async function storedObject(client: S3Client, key: string): Promise<Buffer> {
    const object = await client.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  }

  /** Distinct URLs (the query string makes each one its own image), half JPEG and half PNG. */
  function urls(tag: string, count: number): string[] {
    return Array.from({ length: count }, (_, index) =>
      images.url(`${index % 2 === 0 ? '/mh.jpg' : '/mh.png'}?${tag}=${index}`),
    );
  }

  beforeAll(async () => {
    s3 = await S3Server.start([BUCKET]);
    images = await ImageServer.start();
    // A little latency per image keeps the batch in flight long enough to kill a worker or stop the store.
    images.route('/mh.jpg', { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 30 });
    images.route('/mh.png', { body: images.images.get('/alpha.png'), type: 'image/png', delayMs: 30 });
    const apiPort = await freePort();
    env = testEnv({
      ...s3.env(BUCKET),
      // Every host hands out links to the first API, as behind one load balancer.
      PUBLIC_BASE_URL: `http://127.0.0.1:${apiPort}`,
      // A killed worker's images are dispatched again within seconds (their leases run out).
      JOB_LOCK_MS: '3000',
      WORKER_CONCURRENCY: '3',
    });
    api = await startHost('api', 'api', { PORT: String(apiPort) });
    api.url = `http://127.0.0.1:${apiPort}`;
    secondApi = await startHost('api2', 'api');
    workers = [await startHost('worker1', 'worker'), await startHost('worker2', 'worker')];
    // A deployment of its own (queue prefix): its dispatcher serves none of the batches' requests.
    misconfigured = await startHost('misconfigured', 'worker', {
      S3_BUCKET: 'no-such-bucket',
      QUEUE_PREFIX: `${env.QUEUE_PREFIX}-x`,
    });
    await Promise.all([api, secondApi, ...workers].map((host) => untilReady(host)));
  }, READY_WITHIN_MS + 10_000);

  afterAll(async () => {
    await Promise.all(hosts.map((host) => host.process.kill('SIGKILL')));
    for (const host of hosts) await rm(host.dir, { recursive: true, force: true });
    await images?.close();
    await s3?.close();
    if (env) await cleanUp(testConfig(env));
    if (env) await cleanUp(testConfig({ ...env, QUEUE_PREFIX: `${env.QUEUE_PREFIX}-x` }));
  });

  it('a 200-image batch completes with a worker killed mid-batch; every exported URL downloads, byte for byte what the bucket holds', async () => {
    const requestId = await submit(urls('batch', 200));
    await waitUntil('some images done', async () => (await status(requestId)).counts.images.succeeded >= 30, 120_000);
    await workers[0].process.kill('SIGKILL');

    const final = await untilTerminal(requestId, 240_000);
    expect(final).toMatchObject({ status: 'completed', counts: { images: { total: 200, succeeded: 200, failed: 0 } } });
    // One object per image: the killed worker's images, dispatched again, replaced their keys.
    const folder = await outputFolder(requestId);
    expect(await s3.keys(BUCKET, folder)).toHaveLength(200);

    // The export from the other API process, which never saw the request being made.
    const exported = await fetch(`${secondApi.url}/api/v1/requests/${requestId}/export`);
    expect(exported.status).toBe(200);
    const rows: Record<string, string>[] = parse(await exported.text(), { columns: true, bom: true });
    expect(rows).toHaveLength(100);
    const pairs = rows.flatMap((row) => {
      const inputs = row['Input Image Urls'].split(',');
      const outputs = row['Output Image Urls'].split(',');
      expect(outputs).toHaveLength(inputs.length);
      return inputs.map((input, index) => ({ input, output: outputs[index] }));
    });
    expect(pairs).toHaveLength(200);

    const client = s3.client();
    try {
      const check = async ({ input, output }: { input: string; output: string }) => {
        expect(output.startsWith(`${api.url}/files/${folder}`)).toBe(true);
        expect(output).not.toContain(requestId);
        const response = await fetch(output);
        expect(response.status).toBe(200);
        const body = Buffer.from(await response.arrayBuffer());
        const format = input.includes('/mh.jpg') ? 'jpeg' : 'png';
        expect(response.headers.get('content-type')).toBe(`image/${format}`);
        expect((await sharp(body).metadata()).format).toBe(format);
        const key = output.slice(`${api.url}/files/`.length);
        expect(sha256(body)).toBe(sha256(await storedObject(client, key)));
      };
      for (let index = 0; index < pairs.length; index += 10)
        await Promise.all(pairs.slice(index, index + 10).map(check));
    } finally {
      client.destroy();
    }

    // No host kept an output on its own disk.
    for (const host of hosts) expect(await readdir(join(host.dir, 'storage', 'images')).catch(() => [])).toEqual([]);
  }, 360_000);

  it('the store down mid-batch, then back: the batch completes and no image is lost or counted twice', async () => {
    // The store goes away as the 8th image is downloaded, before its bytes arrive: images
    // before it may be stored, every later one meets the outage. Later downloads are held
    // until the stop has finished (it waits for uploads in flight, however long that takes
    // on a busy machine), so the rest of the batch cannot slip into the store while it closes.
    let stopped!: Promise<void>;
    images.route('/outage.jpg', (hit) => {
      if (hit === 8) stopped = s3.stop();
      return {
        body: images.images.get('/photo.jpg'),
        type: 'image/jpeg',
        delayMs: hit === 8 ? 500 : 0,
        hold: hit > 8 ? stopped : undefined,
      };
    });
    const requestId = await submit(Array.from({ length: 40 }, (_, index) => images.url(`/outage.jpg?n=${index}`)));
    await waitUntil('the store to go down', () => images.hitCount('/outage.jpg') >= 8, 120_000);
    await stopped;
    const during = await status(requestId);
    // The readiness probes run every 2 s: the API's readiness notices the store gone.
    await waitUntil(
      'readiness to answer 503',
      async () => (await fetch(`${api.url}/health/ready`)).status === 503,
      30_000,
    );
    await s3.resume();

    const final = await untilTerminal(requestId, 240_000);
    expect(during.completed).toBe(false);
    expect(final).toMatchObject({ status: 'completed', counts: { images: { total: 40, succeeded: 40, failed: 0 } } });
    expect(await s3.keys(BUCKET, await outputFolder(requestId))).toHaveLength(40);
    // The outage is met, not survived by luck: the worker that met it is still the same process.
    expect(workers[1].process.child.exitCode ?? workers[1].process.child.signalCode).toBeNull();
  }, 360_000);

  it('a missing bucket: the host says so at boot and its readiness answers 503 with the reason', async () => {
    const host = misconfigured;
    await untilReady(host, 503);
    // 503 comes first from a process whose probes have not run yet; the store's reason follows from them.
    const storageMessage = async () =>
      ((await (await fetch(`${host.url}/health/ready`)).json()) as { error: { storage: { message: string } } }).error
        .storage.message;
    await waitUntil('readiness to name the missing bucket', async () => /NoSuchBucket/.test(await storageMessage()));
    expect(await storageMessage()).toMatch(/"no-such-bucket".*NoSuchBucket/);
    expect(host.process.log()).toMatch(/Storage is not usable.*no-such-bucket.*NoSuchBucket/);
  }, 120_000);
});
