import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdtempSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from '@jest/globals';
import { AppProcess } from '../support/app-process.js';
import { freePort } from '../support/free-port.js';
import { testEnv } from '../support/test-env.js';
import { startTestApp } from '../support/test-app.js';
import { waitUntil } from '../support/wait-until.js';

/** A pino JSON log line: its numeric level and whatever else the logger wrote. */
interface Line {
  level: number;
  [field: string]: unknown;
}

/** The built service as production runs it: its own process, JSON logs on stdout (not a TTY). */
describe('Operations (issue 11 items 8 and 9)', () => {
  let app: AppProcess;
  let port: number;
  let base: string;

  const lines = (): Line[] =>
    app
      .log()
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as Line);

  beforeAll(async () => {
    port = await freePort();
    const env = testEnv({ HOST: '0.0.0.0', PORT: String(port), LOG_LEVEL: 'info', APP_ROLE: 'api' });
    delete (env as Record<string, string | undefined>).PUBLIC_BASE_URL;
    const inherited = { ...process.env };
    delete inherited.PUBLIC_BASE_URL;
    delete inherited.NODE_OPTIONS;
    delete inherited.LOG_FORMAT;
    const log = join(mkdtempSync(join(tmpdir(), 'pixbatch-ops-')), 'app.log');
    app = AppProcess.spawn({ ...(inherited as Record<string, string>), ...env }, log);
    base = `http://127.0.0.1:${port}`;
    await waitUntil(
      'the API to answer',
      async () => (await fetch(`${base}/health/live`).catch(() => null))?.ok === true,
      30_000,
    );
  }, 60_000);

  afterAll(async () => {
    await app?.kill('SIGTERM');
  });

  it('writes every line as JSON, from the first (no coloured console lines before the app logger)', () => {
    expect(() => lines()).not.toThrow();
    // eslint-disable-next-line no-control-regex -- an ANSI colour sequence, ESC included, is what must not appear
    expect(app.log()).not.toMatch(/\x1b\[/);
  });

  it('logs the real bound address at start, and warns that PUBLIC_BASE_URL is localhost while listening beyond loopback', () => {
    const all = lines();
    expect(all.some((line) => line.level === 30 && String(line.msg).includes(`0.0.0.0:${port}`))).toBe(true);
    const warning = all.find((line) => String(line.msg).includes('PUBLIC_BASE_URL'));
    expect(warning).toMatchObject({ level: 40 });
  });

  it('says at start that it runs in protected mode, and why', () => {
    const notice = lines().find((line) => String(line.msg).startsWith('Protected mode'));
    expect(notice).toMatchObject({ level: 40 });
    expect(String(notice?.msg)).toMatch(/API_KEYS is not set.*PROTECTED_MODE=off/);
  });

  // A peer that really is beyond loopback: this machine's own address on another interface.
  const external = Object.values(networkInterfaces())
    .flat()
    .find((entry) => entry && !entry.internal && entry.family === 'IPv4')?.address;
  (external ? it : it.skip)(
    `refuses the API with 403 PROTECTED_MODE to a peer beyond loopback (${external ?? 'no such interface here'}), and keeps its probes open`,
    async () => {
      const remote = await fetch(`http://${external}:${port}/api/v1/requests`);
      expect(remote.status).toBe(403);
      expect(await remote.json()).toMatchObject({ code: 'PROTECTED_MODE' });
      expect((await fetch(`http://${external}:${port}/health/live`)).status).toBe(200);
      expect((await fetch(`${base}/api/v1/requests`)).status).toBe(200);
    },
  );

  it('writes one access line per request with method, route, status, duration and the caller’s reqId; a 4xx at info without a stack', async () => {
    const ok = await fetch(`${base}/api/v1/requests/3f2b1c4e-8d9a-4b7c-9e1f-2a3b4c5d6e7f`, {
      headers: { 'x-request-id': 'trace-abc-123' },
    });
    expect(ok.headers.get('x-request-id')).toBe('trace-abc-123');
    await waitUntil('the access line', () => lines().some((line) => line.reqId === 'trace-abc-123'), 5000);
    const access = lines().filter((line) => line.reqId === 'trace-abc-123' && line.status !== undefined);
    expect(access).toHaveLength(1);
    expect(access[0]).toMatchObject({
      level: 30,
      method: 'GET',
      route: '/api/v1/requests/:id',
      status: 404,
      durationMs: expect.any(Number),
    });
    expect(JSON.stringify(access[0])).not.toMatch(/stack/);
  });

  it('logs a client that disconnects mid-upload at info, not error', async () => {
    const before = lines().length;
    const net = await import('node:net');
    await new Promise<void>((resolve) => {
      const socket = net.connect(port, '127.0.0.1', () => {
        socket.write(
          'POST /api/v1/requests HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n' +
            '--b\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\nContent-Type: text/csv\r\n\r\nS. No.,Product Name,Input Image Urls\n1,A,',
        );
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 300);
      });
    });
    const said = (line: Line) => line.msg === 'client closed the connection during the upload; nothing was stored';
    await waitUntil('the disconnect to be logged', () => lines().slice(before).some(said));
    const after = lines().slice(before);
    expect(after.filter(said)).toEqual([expect.objectContaining({ level: 30, reqId: expect.any(String) })]);
    expect(after.filter((line) => line.level >= 50)).toEqual([]);
  });
});

describe('TRUST_PROXY (issue 11 item 9)', () => {
  const hits = async (trust: string | undefined) => {
    // Forwarded calls without API_KEYS are refused in protected mode; these are about whose budget they draw on.
    const harness = await startTestApp({
      RATE_LIMIT_PER_MINUTE: '2',
      PROTECTED_MODE: 'off',
      ...(trust ? { TRUST_PROXY: trust } : {}),
    });
    try {
      const statuses: number[] = [];
      for (const client of ['198.51.100.1', '198.51.100.2', '198.51.100.3']) {
        const response = await harness.app.inject({
          method: 'GET',
          url: '/api/v1/requests/3f2b1c4e-8d9a-4b7c-9e1f-2a3b4c5d6e7f',
          headers: { 'x-forwarded-for': client },
        });
        statuses.push(response.statusCode);
      }
      return statuses;
    } finally {
      await harness.close();
    }
  };

  it('keys rate limits on the socket address by default, ignoring X-Forwarded-For', async () => {
    expect(await hits(undefined)).toEqual([404, 404, 429]);
  });

  it('keys them on the forwarded client address when TRUST_PROXY trusts the proxy', async () => {
    expect(await hits('127.0.0.1')).toEqual([404, 404, 404]);
  });
});

describe('examples/image-server.mjs (issue 11 item 9)', () => {
  it('says in one line that its port is busy, without a stack trace', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as { port: number };
    try {
      const env = { ...process.env };
      delete env.NODE_OPTIONS;
      const result = await new Promise<{ code: number; stderr: string }>((resolve) =>
        execFile(
          process.execPath,
          ['examples/image-server.mjs'],
          { env: { ...env, PORT: String(port) } },
          (error, _stdout, stderr) => resolve({ code: error ? Number(error.code) : 0, stderr }),
        ),
      );
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toEqual([expect.stringContaining(`port ${port} is already in use`)]);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  }, 60_000);
});
