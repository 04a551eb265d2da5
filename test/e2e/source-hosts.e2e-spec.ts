import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { CreatedRequestDto, RequestStatusDto } from '../../src/requests/dto/request-status.dto.js';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import { productCsv } from '../factories/csv.factory.js';
import { photoJpeg } from '../support/images.js';
import { startLoopbackServer, stopLoopbackServer } from '../support/loopback-server.js';
import { TestApp, multipart, startTestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

/** SOURCE_HOST_CONCURRENCY for the suite: far below the lanes, so that only the cap keeps a host at it. */
const CAP = 2;
/** Each answer takes this long, so that fetches to a host overlap whenever the dispatcher lets them. */
const ANSWER_MS = 75;
/** What the refusing host asks in Retry-After, in seconds, and for how long it refuses. */
const PAUSE_S = 8;

/** The status, with the paused hosts it names, should the API have them yet. */
type Status = Omit<RequestStatusDto, 'pausedHosts'> & { pausedHosts?: { host: string; until: string }[] };

/** One request a source host received: when it arrived (epoch ms), what for, what it answered. */
interface Received {
  at: number;
  path: string;
  status: number;
}

/**
 * A supplier's image host: any path is a small JPEG, answered after
 * ANSWER_MS. It records the requests in flight (from arrival to the end of
 * the answer), the most there ever were, and every request it received.
 * With `refuseForMs`, it answers 429 with Retry-After to every request for
 * that long after the first one it receives, then serves.
 */
class SourceHost {
  inFlight = 0;
  maxInFlight = 0;
  firstAt: number | null = null;
  readonly received: Received[] = [];
  private server?: Server;
  private baseUrl = '';

  private constructor(
    private readonly jpeg: Buffer,
    private readonly refuseForMs: number,
    private readonly onChange: () => void,
  ) {}

  static async start(
    address: string,
    jpeg: Buffer,
    options: { refuseForMs?: number; onChange?: () => void } = {},
  ): Promise<SourceHost> {
    const host = new SourceHost(jpeg, options.refuseForMs ?? 0, options.onChange ?? (() => undefined));
    ({ server: host.server, baseUrl: host.baseUrl } = await startLoopbackServer(
      (request, response) => host.handle(request, response),
      address,
    ));
    return host;
  }

  /** host:port, as the service names the host (source_host, pausedHosts). */
  get name(): string {
    return new URL(this.baseUrl).host;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** Requests received before `until` (epoch ms). */
  receivedBefore(until: number): Received[] {
    return this.received.filter((request) => request.at < until);
  }

  async close(): Promise<void> {
    await stopLoopbackServer(this.server);
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const at = Date.now();
    this.firstAt ??= at;
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.onChange();
    try {
      // unref: an answer to a client that is gone must not keep the test run alive.
      await new Promise((resolve) => setTimeout(resolve, ANSWER_MS).unref());
      const refusing = at < this.firstAt + this.refuseForMs;
      const status = refusing ? 429 : 200;
      this.received.push({ at, path: (request.url ?? '/').split('?')[0], status });
      if (response.destroyed) return;
      if (refusing) {
        response.writeHead(429, { 'content-type': 'text/plain', 'retry-after': String(PAUSE_S) }).end('slow down');
      } else {
        response.writeHead(200, { 'content-type': 'image/jpeg' }).end(this.jpeg);
      }
    } finally {
      this.inFlight -= 1;
    }
  }
}

/**
 * Source hosts are respected across the workers of a deployment: at most
 * SOURCE_HOST_CONCURRENCY fetches in flight per host (the dispatcher hands
 * out chunks of one host, at most that many per host at once, and a chunk
 * fetches one image at a time), and a host that answers 429 with
 * Retry-After is left alone for that long, without using the images'
 * attempts, while the other hosts' images keep flowing. Three loopback
 * addresses are three hosts to the service.
 */
describe('Source hosts: per-host concurrency and Retry-After', () => {
  let harness: TestApp;
  let jpeg: Buffer;
  const started: SourceHost[] = [];

  beforeAll(async () => {
    jpeg = await photoJpeg(320, 240, 1);
    harness = await startTestApp({
      SOURCE_HOST_CONCURRENCY: String(CAP),
      // Eight lanes and a window of sixteen two-image chunks: without the cap
      // a host would have up to eight fetches in flight.
      WORKER_CONCURRENCY: '8',
      CHUNK_SIZE: '2',
    });
  });

  afterAll(async () => {
    for (const host of started) await host.close();
    await harness?.close();
  });

  async function startHost(address: string, options: { refuseForMs?: number; onChange?: () => void } = {}) {
    const host = await SourceHost.start(address, jpeg, options);
    started.push(host);
    return host;
  }

  /** Uploads one product per URL; answers the request's id. */
  async function upload(urls: string[]): Promise<string> {
    const csv = productCsv(urls.map((url, index) => ({ serial: index + 1, name: `P${index + 1}`, urls: [url] })));
    const body = multipart({}, { content: csv });
    const response = await harness.app.inject({
      method: 'POST',
      url: '/api/v1/requests',
      payload: body.payload,
      headers: body.headers,
    });
    expect(response.statusCode).toBe(202);
    return response.json<CreatedRequestDto>().requestId;
  }

  async function status(requestId: string): Promise<Status> {
    const response = await harness.app.inject({ method: 'GET', url: `/api/v1/requests/${requestId}` });
    return response.json<Status>();
  }

  async function attempts(requestId: string): Promise<number[]> {
    const response = await harness.app.inject({
      method: 'GET',
      url: `/api/v1/requests/${requestId}/products?pageSize=500`,
    });
    return response.json<ProductPageDto>().items.flatMap((product) => product.images.map((image) => image.attempts));
  }

  function paths(prefix: string, count: number): string[] {
    return Array.from({ length: count }, (_, index) => `/${prefix}/${index}.jpg`);
  }

  it(`keeps every host at ${CAP} fetches in flight at most, across all lanes`, async () => {
    const hosts: SourceHost[] = [];
    let inFlightEverywhere = 0;
    const count = () => {
      inFlightEverywhere = Math.max(
        inFlightEverywhere,
        hosts.reduce((sum, host) => sum + host.inFlight, 0),
      );
    };
    for (const address of ['127.0.0.1', '127.0.0.2', '127.0.0.3'])
      hosts.push(await startHost(address, { onChange: count }));
    const begun = performance.now();
    // 30 images per host: a request per host, and one that mixes the three.
    const ids = [
      ...(await Promise.all(hosts.map((host) => upload(paths('own', 15).map((path) => host.url(path)))))),
      await upload(paths('mixed', 15).flatMap((path) => hosts.map((host) => host.url(path)))),
    ];
    for (const id of ids) {
      await waitUntil('every request to finish', async () => (await status(id)).completed, 30_000);
    }
    const seconds = ((performance.now() - begun) / 1000).toFixed(1);

    console.log(
      `source hosts, cap ${CAP}: most fetches in flight per host ` +
        hosts.map((host) => `${host.name}=${host.maxInFlight}`).join(', ') +
        `; across hosts ${inFlightEverywhere}; 90 images in ${seconds} s`,
    );
    for (const id of ids) {
      const done = await status(id);
      expect(done.status).toBe('completed');
      expect(done.counts.images.succeeded).toBe(done.counts.images.total);
    }
    for (const host of hosts) {
      expect(host.received).toHaveLength(30);
      expect(host.maxInFlight).toBeLessThanOrEqual(CAP);
    }
    // The cap is reached, so the bound above is the cap's doing, not a lack of work.
    expect(Math.max(...hosts.map((host) => host.maxInFlight))).toBe(CAP);
    // And the hosts are served side by side: the lanes do not wait on one host.
    expect(inFlightEverywhere).toBeGreaterThan(CAP);
  });

  it('leaves a host that answers 429 with Retry-After alone for that long, and the others keep going', async () => {
    const [first, second] = [await startHost('127.0.0.1'), await startHost('127.0.0.2')];
    const refusing = await startHost('127.0.0.3', { refuseForMs: PAUSE_S * 1000 });
    const begun = Date.now();
    const [firstId, secondId, refusingId] = await Promise.all(
      [first, second, refusing].map((host) => upload(paths('img', 16).map((path) => host.url(path)))),
    );

    await waitUntil('the refusing host to be asked', () => refusing.firstAt !== null);
    const pauseEnds = refusing.firstAt! + PAUSE_S * 1000;

    // While it refuses: the status names the paused host (once the API has
    // the field), and the other hosts' requests run to the end.
    let pausedSeen = 'no pausedHosts in the status yet';
    if ((await status(refusingId)).pausedHosts !== undefined) {
      await waitUntil(
        'the status to name the paused host',
        async () => ((await status(refusingId)).pausedHosts ?? []).length > 0,
      );
      const paused = (await status(refusingId)).pausedHosts!;
      expect(Date.now()).toBeLessThan(pauseEnds);
      expect(paused.map((host) => host.host)).toEqual([refusing.name]);
      // Until 8 s after the 429 arrived: after the refusal ends, by its answer time at most.
      const until = Date.parse(paused[0].until);
      expect(until).toBeGreaterThanOrEqual(pauseEnds);
      expect(until).toBeLessThan(pauseEnds + 2000);
      for (const id of [firstId, secondId]) expect((await status(id)).pausedHosts).toEqual([]);
      pausedSeen = `status named ${paused[0].host} paused until ${until - refusing.firstAt!} ms after its first request`;
    }
    await waitUntil(
      'the other hosts to finish',
      async () => (await status(firstId)).completed && (await status(secondId)).completed,
      PAUSE_S * 1000,
    );
    const othersDone = Date.now();
    expect(othersDone).toBeLessThan(pauseEnds);
    expect((await status(refusingId)).completed).toBe(false);

    await waitUntil('the refused request to finish', async () => (await status(refusingId)).completed, 30_000);
    const done = await status(refusingId);
    const refused = refusing.receivedBefore(pauseEnds);
    console.log(
      `Retry-After ${PAUSE_S}: ${refusing.name} got ${refused.length} requests while refusing; ` +
        `the other hosts finished ${((othersDone - begun) / 1000).toFixed(1)} s after the upload, ` +
        `the refused request ${((Date.now() - begun) / 1000).toFixed(1)} s after; ${pausedSeen}`,
    );

    // At most CAP chunks of the host are out when its first 429 arrives; each
    // stops at its first 429 (the chunk's other images wait, unstarted), and
    // no chunk of a paused host is handed out until the pause, counted from
    // the 429's arrival and so ending after this window, is over. Hence one
    // request per chunk out at the time: CAP at most.
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.length).toBeLessThanOrEqual(CAP);
    expect(refused.every((request) => request.status === 429)).toBe(true);
    // Once the pause was over, every image was fetched once, and served.
    expect(refusing.received.filter((request) => request.status === 200)).toHaveLength(16);
    expect(done.status).toBe('completed');
    expect(done.counts.images.succeeded).toBe(16);
    // The 429s did not use the images' attempts: each succeeded on its first counted one.
    expect(await attempts(refusingId)).toEqual(Array(16).fill(1));
    for (const id of [firstId, secondId]) expect((await status(id)).status).toBe('completed');
  });
});
