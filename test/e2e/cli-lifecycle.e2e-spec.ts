import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImageServer } from '../support/image-server.js';
import { startTestApp, TestApp } from '../support/test-app.js';

// The compiled CLI, as `npx pixbatch` runs it (npm run build first).
const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * A pass-through proxy in front of the API that counts what the CLI asks for,
 * and can refuse the event stream the way an old server or a proxy would.
 */
class CountingProxy {
  readonly calls: string[] = [];
  refuseEvents = false;
  private server!: Server;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    const upstream = new URL(this.target);
    this.server = createServer((req, res) => {
      this.calls.push(`${req.method} ${req.url}`);
      if (this.refuseEvents && req.url?.endsWith('/events')) {
        res
          .writeHead(404, { 'content-type': 'application/problem+json' })
          .end('{"title":"Not Found","code":"NOT_FOUND"}');
        return;
      }
      const forward = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  count(pattern: RegExp): number {
    return this.calls.filter((call) => pattern.test(call)).length;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

describe('pixbatch CLI over a request’s life: live progress, cancel, retry', () => {
  let images: ImageServer;
  let testApp: TestApp;
  let proxy: CountingProxy;
  let dir: string;
  let env: Record<string, string>;

  function cli(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env, cwd: dir }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
  }

  async function csv(name: string, paths: string[]): Promise<string> {
    const rows = paths.map((path, i) => `${i + 1},Product ${i + 1},${images.url(path)}`);
    const file = join(dir, name);
    await writeFile(file, ['S. No.,Product Name,Input Image Urls', ...rows].join('\n'));
    return file;
  }

  beforeAll(async () => {
    images = await ImageServer.start();
    testApp = await startTestApp({ WORKER_CONCURRENCY: '1' });
    await testApp.app.listen(0, '127.0.0.1');
    proxy = new CountingProxy(await testApp.app.getUrl());
    await proxy.start();
    dir = await mkdtemp(join(tmpdir(), 'pixbatch-cli-life-'));
    const inherited = { ...process.env };
    delete inherited.NODE_OPTIONS;
    env = { ...(inherited as Record<string, string>), PIXBATCH_URL: proxy.url };
    for (let i = 1; i <= 6; i++) {
      images.route(`/cli-life/${i}.jpg`, { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 300 });
    }
  });

  afterAll(async () => {
    await proxy?.close();
    await testApp?.close();
    await images?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('submit --wait follows the event stream instead of polling the status', async () => {
    proxy.calls.length = 0;
    const file = await csv(
      'live.csv',
      [1, 2, 3, 4, 5, 6].map((i) => `/cli-life/${i}.jpg`),
    );
    const run = await cli(['submit', file, '--wait']);
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect(run.stdout).toContain('Status: completed');
    const id = UUID.exec(run.stdout)![0];
    expect(proxy.count(new RegExp(`^GET /api/v1/requests/${id}/events$`))).toBe(1);
    // Two seconds of work: polling every 500 ms would have asked four times or more; the stream leaves one call
    // for the final status.
    expect(proxy.count(new RegExp(`^GET /api/v1/requests/${id}$`))).toBe(1);
  }, 60_000);

  it('falls back to polling when the server has no event stream', async () => {
    proxy.refuseEvents = true;
    try {
      const file = await csv('polled.csv', ['/cli-life/1.jpg', '/missing.jpg']);
      const run = await cli(['submit', file, '--wait']);
      expect(run).toMatchObject({ code: 2, stderr: '' });
      expect(run.stdout).toContain('Status: completed_with_errors');
    } finally {
      proxy.refuseEvents = false;
    }
  }, 60_000);

  it('cancel stops a request; status --wait then exits 4; retry --wait finishes it and exits 0', async () => {
    images.route('/cli-life/held.jpg', { body: images.images.get('/photo.jpg'), type: 'image/jpeg', delayMs: 1500 });
    const file = await csv('cancel.csv', ['/cli-life/held.jpg', '/cli-life/5.jpg', '/cli-life/6.jpg']);
    const submitted = await cli(['submit', file]);
    expect(submitted.code).toBe(0);
    const id = UUID.exec(submitted.stdout)![0];

    const cancelled = await cli(['cancel', id]);
    expect(cancelled).toMatchObject({ code: 0, stderr: '' });
    expect(cancelled.stdout).toContain(`Request ${id} cancelled`);
    expect(cancelled.stdout).toMatch(/Status: cancelled/);
    expect(cancelled.stdout).toMatch(/\d+ cancelled/);

    const waited = await cli(['status', id, '--wait']);
    expect(waited.code).toBe(4);
    expect(waited.stdout).toContain('Status: cancelled');

    const again = await cli(['cancel', id]);
    expect(again.code).toBe(0);

    const retried = await cli(['retry', id, '--wait']);
    expect(retried).toMatchObject({ code: 0, stderr: '' });
    expect(retried.stdout).toContain('Status: completed');
    expect(retried.stdout).toContain('Images: 3 succeeded, 0 failed, 0 pending, of 3');

    const nothing = await cli(['retry', id]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toContain('NOTHING_TO_RETRY');
    const finished = await cli(['cancel', id]);
    expect(finished.code).toBe(1);
    expect(finished.stderr).toContain('REQUEST_ALREADY_FINISHED');
  }, 60_000);
});
