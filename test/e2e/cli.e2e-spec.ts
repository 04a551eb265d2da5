import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import type { ProductPageDto } from '../../src/products/dto/product-page.dto.js';
import { ImageServer } from '../support/image-server.js';
import { startTestApp, TestApp } from '../support/test-app.js';
import { WebhookReceiver } from '../support/webhook-receiver.js';

// The compiled CLI, as `npx pixbatch` runs it (npm test runs after npm run build).
const CLI = join(process.cwd(), 'dist/src/cli/main.js');
const API_KEY = 'cli-suite-key';
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/** A port nothing listens on: one the system just handed out and took back. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as a child process with piped (non-TTY) output, the way CI and scripts run it. */
describe('pixbatch CLI', () => {
  let images: ImageServer;
  let receiver: WebhookReceiver;
  let testApp: TestApp;
  let dir: string;
  let env: Record<string, string>;

  function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<Run> {
    return new Promise((resolve) => {
      execFile(process.execPath, [CLI, ...args], { env: { ...env, ...extraEnv }, cwd: dir }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      );
    });
  }

  async function csv(name: string, ...paths: string[][]): Promise<string> {
    const rows = paths.map(
      (urls, i) => `${i + 1},Product ${i + 1},"${urls.map((path) => images.url(path)).join(',')}"`,
    );
    const file = join(dir, name);
    await writeFile(file, ['S. No.,Product Name,Input Image Urls', ...rows].join('\n'));
    return file;
  }

  beforeAll(async () => {
    images = await ImageServer.start();
    receiver = await WebhookReceiver.start();
    testApp = await startTestApp({
      API_KEYS: API_KEY,
      WEBHOOK_SIGNING_SECRET: `whsec_${randomBytes(32).toString('base64')}`,
    });
    await testApp.app.listen(0, '127.0.0.1');
    dir = await mkdtemp(join(tmpdir(), 'pixbatch-cli-'));
    // Without NODE_OPTIONS: jest's --experimental-vm-modules would only add a warning to the child's stderr.
    const inherited = { ...process.env };
    delete inherited.NODE_OPTIONS;
    env = {
      ...(inherited as Record<string, string>),
      PIXBATCH_URL: await testApp.app.getUrl(),
      PIXBATCH_API_KEY: API_KEY,
    };
  });

  afterAll(async () => {
    await testApp?.close();
    await images?.close();
    await receiver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('submit --wait prints plain progress lines, the outcome and writes the result; exit 2 when some images failed', async () => {
    const file = await csv('mixed.csv', ['/photo.jpg', '/alpha.png'], ['/missing.jpg']);
    const run = await cli(['submit', file, '--wait', '--resize', '0.5', '-o', 'mixed-result.csv']);
    expect(run).toMatchObject({ code: 2, stderr: '' });
    const lines = run.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^Submitted mixed\\.csv: request ${UUID.source} \\(2 products, 3 images\\)$`));
    const progress = lines.filter((line) => / images \(\d+%/.test(line));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)).toMatch(/^completed_with_errors: 3\/3 images \(100%, 1 failed\), [\d.]+ img\/s, done$/);
    // Non-TTY output never redraws: no carriage returns or escape sequences in logs.
    // eslint-disable-next-line no-control-regex -- ESC (an escape sequence's start) is what must not appear
    expect(run.stdout).not.toMatch(/[\r\x1b]/);
    expect(run.stdout).toContain('Status: completed_with_errors');
    expect(run.stdout).toMatch(/Images: 2 succeeded, 1 failed, 0 pending, of 3/);
    expect(run.stdout).toMatch(/row 2 \(Product 2\) .*\/missing\.jpg: HTTP_404/);
    expect(lines.at(-1)).toBe('Result CSV written to mixed-result.csv');

    const result = await readFile(join(dir, 'mixed-result.csv'), 'utf8');
    expect(result.startsWith('\ufeffS. No.,Product Name,Input Image Urls,Output Image Urls,Errors\r\n')).toBe(true);
    const requestId = lines[0].match(UUID)![0];
    const products = (
      await testApp.app.inject({ url: `/api/v1/requests/${requestId}/products`, headers: { 'x-api-key': API_KEY } })
    ).json<ProductPageDto>();
    expect(products.items[0].images[0]).toMatchObject({ status: 'succeeded', width: 320, height: 240 });
  });

  it('exits 0 when every image succeeded; status and export work on the id', async () => {
    const file = await csv('good.csv', ['/photo.jpg']);
    const submitted = await cli(['submit', file, '--wait']);
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toContain('Status: completed');
    const id = submitted.stdout.match(UUID)![0];

    const status = await cli(['status', id]);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(status.stdout).toMatch(
      /^Request .* \(good\.csv\)\nStatus: completed in [\d.]+s\nImages: 1 succeeded, 0 failed, 0 pending, of 1\n/,
    );

    const toFile = await cli(['export', id, '-o', 'good-result.csv']);
    expect(toFile).toMatchObject({ code: 0, stdout: 'Result CSV written to good-result.csv\n' });
    const toStdout = await cli(['export', id]);
    expect(toStdout.stdout).toBe(await readFile(join(dir, 'good-result.csv'), 'utf8'));
    expect(toStdout.stdout).toContain('/files/images/');
  });

  it('exits 3 when every image failed, and submit without --wait returns at once', async () => {
    const file = await csv('bad-images.csv', ['/missing.jpg', '/page.jpg']);
    const submitted = await cli(['submit', file]);
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toMatch(/Follow it with: pixbatch status .* --wait/);
    const waited = await cli(['status', submitted.stdout.match(UUID)![0], '--wait']);
    expect(waited.code).toBe(3);
    expect(waited.stdout).toContain('Status: failed');
    expect(waited.stdout).toMatch(/NOT_AN_IMAGE/);
  });

  it('submit --webhook-url subscribes the request, and the receiver gets its signed event', async () => {
    const file = await csv('hooked.csv', ['/photo.jpg']);
    const run = await cli(['submit', file, '--wait', '--webhook-url', receiver.url('/hook')]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`attempt(s) to ${receiver.url('/hook')}`);
    const [event] = await receiver.waitFor('/hook', 1);
    expect(JSON.parse(event.body)).toMatchObject({
      type: 'request.completed',
      data: { requestId: run.stdout.match(UUID)![0] },
    });
    expect(event.headers['webhook-signature']).toMatch(/^v1,/);
  });

  it('prints the problem document and exits 1 when the API refuses', async () => {
    const file = join(dir, 'invalid.csv');
    await writeFile(file, 'S. No.,Product Name,Input Image Urls\n1,,ftp://example.com/a.jpg\n');
    const invalid = await cli(['submit', file, '--wait']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^error: The CSV has errors \(CSV_INVALID, HTTP 422\)/);
    expect(invalid.stderr).toMatch(/\n {2}row 1, line 2, .*\n/);

    const noKey = await cli(['status', '00000000-0000-4000-8000-000000000000'], { PIXBATCH_API_KEY: '' });
    expect(noKey).toMatchObject({ code: 1, stderr: expect.stringContaining('API_KEY_MISSING') });
    const unknown = await cli(['status', '00000000-0000-4000-8000-000000000000']);
    expect(unknown).toMatchObject({ code: 1, stderr: expect.stringContaining('REQUEST_NOT_FOUND') });
  });

  it('exits 1 on usage errors and when the server cannot be reached', async () => {
    expect((await cli([])).code).toBe(1);
    expect(await cli(['--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: pixbatch') });
    expect(await cli(['submit'])).toMatchObject({ code: 1, stderr: expect.stringContaining('expected a CSV file') });
    expect(await cli(['submit', 'nope.csv'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('cannot read nope.csv'),
    });
    expect(await cli(['status', 'x', '--bogus'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining("'--bogus'"),
    });
    expect(await cli(['frobnicate', 'x'])).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('unknown command'),
    });
    const file = await csv('unreachable.csv', ['/photo.jpg']);
    const closed = await closedPort();
    const down = await cli(['submit', file, '--url', `http://127.0.0.1:${closed}`]);
    expect(down).toMatchObject({ code: 1, stderr: `error: cannot reach http://127.0.0.1:${closed} (ECONNREFUSED)\n` });
  });

  it('stays executable after a rebuild, as npx runs it (issue 11 item 7)', async () => {
    // npm test runs after npm run build, whose postbuild step restores the bit nest build drops.
    await expect(access(CLI, constants.X_OK)).resolves.toBeUndefined();
    const direct = await new Promise<Run>((resolve) =>
      execFile(CLI, ['--help'], { env }, (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code) : 0, stdout, stderr }),
      ),
    );
    expect(direct).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: pixbatch') });
  });

  it('retries a failed submit with the same Idempotency-Key, and a 401 names --api-key and PIXBATCH_API_KEY', async () => {
    const keys: (string | undefined)[] = [];
    const server = createHttpServer((request, response) => {
      request.resume();
      request.on('end', () => {
        keys.push(request.headers['idempotency-key'] as string | undefined);
        if (request.headers['x-api-key'] === 'wrong') {
          response.writeHead(401, { 'content-type': 'application/problem+json' });
          response.end(
            JSON.stringify({ type: 'about:blank', title: 'Invalid API key', status: 401, code: 'API_KEY_INVALID' }),
          );
        } else if (keys.length === 1) {
          response.writeHead(503, { 'content-type': 'application/problem+json' });
          response.end(
            JSON.stringify({
              type: 'about:blank',
              title: 'Service unavailable',
              status: 503,
              code: 'SERVICE_UNAVAILABLE',
            }),
          );
        } else {
          const requestId = '11111111-1111-4111-8111-111111111111';
          response.writeHead(202, { 'content-type': 'application/json' });
          response.end(
            JSON.stringify({
              requestId,
              status: 'pending',
              productCount: 1,
              imageCount: 1,
              links: { self: `/api/v1/requests/${requestId}` },
            }),
          );
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const file = await csv('retried.csv', ['/photo.jpg']);
      const first = await cli(['submit', file, '--url', url]);
      expect(first).toMatchObject({ code: 0, stdout: expect.stringContaining('11111111-1111-4111-8111-111111111111') });
      expect(keys).toHaveLength(2);
      expect(keys[0]).toMatch(/^[!-~]{1,255}$/);
      expect(keys[1]).toBe(keys[0]);
      const second = await cli(['submit', file, '--url', url]);
      expect(second.code).toBe(0);
      expect(keys[2]).not.toBe(keys[0]);
      const refused = await cli(['submit', file, '--url', url], { PIXBATCH_API_KEY: 'wrong' });
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('--api-key');
      expect(refused.stderr).toContain('PIXBATCH_API_KEY');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
