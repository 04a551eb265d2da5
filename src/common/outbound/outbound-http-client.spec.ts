import { expect } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLoopbackServer, stopLoopbackServer } from '../../../test/support/loopback-server.js';
import type { ResolvedAddress } from './address-guard.js';
import { OutboundError, OutboundErrorCode } from './outbound-error.js';
import {
  OutboundHttpClient,
  type OutboundClientOptions,
  type OutboundRequest,
  type OutboundResponse,
} from './outbound-http-client.js';

// The image fetcher's spec covers redirects, the guard, limits and error codes
// through a GET; this one covers what the webhook sender relies on as well.
describe('OutboundHttpClient', () => {
  let server: http.Server;
  let port: number;
  let seen: { method: string; path: string; headers: http.IncomingHttpHeaders; body: string; socket: number }[];
  const sockets = new Map<unknown, number>();
  const clients: OutboundHttpClient[] = [];

  const url = (path: string, host = '127.0.0.1'): string => `http://${host}:${port}${path}`;

  beforeAll(async () => {
    ({ server } = await startLoopbackServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size);
        const path = req.url ?? '/';
        const body = Buffer.concat(chunks).toString();
        seen.push({ method: req.method ?? '', path, headers: req.headers, body, socket: sockets.get(req.socket)! });
        switch (path) {
          case '/ok':
            res.writeHead(200, { 'content-type': 'text/plain' }).end('fine');
            return;
          case '/unchanged':
            res.writeHead(304, { etag: '"v1"' }).end();
            return;
          case '/moved':
            res.writeHead(301, { location: '/ok' }).end();
            return;
          case '/to-blocked':
            res.writeHead(302, { location: url('/ok', '127.0.0.2') }).end();
            return;
          case '/broken':
            res.writeHead(500, { 'content-type': 'text/plain' }).end('stack trace');
            return;
          case '/large':
            res.writeHead(200);
            for (let i = 0; i < 4; i += 1) res.write(Buffer.alloc(100));
            res.end();
            return;
          case '/drip': {
            res.writeHead(200);
            const timer = setInterval(() => res.write('x'), 50);
            res.on('close', () => clearInterval(timer));
            return;
          }
          default:
            res.writeHead(404).end();
        }
      });
      return Promise.resolve();
    }));
    port = (server.address() as AddressInfo).port;
  });

  beforeEach(() => {
    seen = [];
  });

  afterEach(() => {
    clients.splice(0).forEach((client) => client.close());
  });

  afterAll(() => stopLoopbackServer(server));

  const resolver = (hostname: string): Promise<ResolvedAddress[]> => {
    if (hostname === 'receiver.test') return Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
    return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
  };

  const client = (overrides: Partial<OutboundClientOptions> = {}): OutboundHttpClient => {
    const created = new OutboundHttpClient({
      allowPrivateNetworks: true,
      resolver,
      keepAlive: false,
      headers: { 'User-Agent': 'outbound-spec' },
      ...overrides,
    });
    clients.push(created);
    return created;
  };

  const request = (path: string, overrides: Partial<OutboundRequest> = {}): OutboundRequest => ({
    method: 'GET',
    url: url(path),
    // Generous: two shared cores can take a while over a first request; only /drip is meant to time out.
    timeoutMs: 3000,
    redirects: 3,
    rejectUnsuccessful: true,
    ...overrides,
  });

  const text = async (response: OutboundResponse): Promise<{ status: number; body: string }> => {
    const chunks: Buffer[] = [];
    for await (const chunk of response.body) chunks.push(chunk);
    return { status: response.status, body: Buffer.concat(chunks).toString() };
  };

  const failure = async (promise: Promise<unknown>): Promise<OutboundError> => {
    const error = await promise.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(OutboundError);
    return error as OutboundError;
  };

  it('POSTs the body with the default headers, which the request can add to', async () => {
    const body = Buffer.from('{"event":1}');
    const headers = { 'Content-Type': 'application/json' };
    await client().exchange(request('/ok', { method: 'POST', body, headers }), text);
    expect(seen).toEqual([
      expect.objectContaining({
        method: 'POST',
        body: '{"event":1}',
        headers: expect.objectContaining({ 'user-agent': 'outbound-spec', 'content-type': 'application/json' }),
      }),
    ]);
  });

  it("hands a 3xx over untouched when redirects are 'none'", async () => {
    const response = await client().exchange(
      request('/moved', { redirects: 'none', rejectUnsuccessful: false }),
      (answer) =>
        Promise.resolve({
          status: answer.status,
          location: answer.headers['location'],
        }),
    );
    expect(response).toEqual({ status: 301, location: '/ok' });
    expect(seen.map((entry) => entry.path)).toEqual(['/moved']);
  });

  it('follows a redirect by hand and reports the final URL', async () => {
    const final = await client().exchange(request('/moved'), (answer) => Promise.resolve(answer.url.href));
    expect(final).toBe(url('/ok'));
    expect(seen.map((entry) => entry.path)).toEqual(['/moved', '/ok']);
  });

  it('vets every hop with the address guard', async () => {
    const guarded = client({ allowPrivateNetworks: false, isAllowedAddress: (ip) => ip === '127.0.0.1' });
    const error = await failure(guarded.exchange(request('/to-blocked'), text));
    expect(error.code).toBe(OutboundErrorCode.BlockedAddress);
    expect(error.transient).toBe(false);
    expect(seen.map((entry) => entry.path)).toEqual(['/to-blocked']);
  });

  it('hands an unsuccessful status over, body included, unless asked to reject it', async () => {
    await expect(client().exchange(request('/broken', { rejectUnsuccessful: false }), text)).resolves.toEqual({
      status: 500,
      body: 'stack trace',
    });
    const error = await failure(client().exchange(request('/broken'), text));
    expect(error.code).toBe('HTTP_500');
    expect(error.transient).toBe(true);
    expect(error.message).not.toContain('stack trace');
  });

  it('stops a body at maxBytes while it is read', async () => {
    const error = await failure(client().exchange(request('/large', { maxBytes: 250 }), text));
    expect(error.code).toBe(OutboundErrorCode.TooLarge);
    expect(error.transient).toBe(false);
    await expect(client().exchange(request('/large', { maxBytes: 400 }), text)).resolves.toMatchObject({ status: 200 });
  });

  it('applies the deadline to reading the body too', async () => {
    const started = Date.now();
    const error = await failure(client().exchange(request('/drip', { timeoutMs: 300 }), text));
    expect(error.code).toBe(OutboundErrorCode.Timeout);
    expect(error.transient).toBe(true);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("passes the reader's own errors through untranslated", async () => {
    const own = new Error('not an image');
    await expect(client().exchange(request('/ok'), () => Promise.reject(own))).rejects.toBe(own);
  });

  it('reports a name that does not resolve as a permanent DNS error', async () => {
    const error = await failure(client().exchange(request('/ok', { url: url('/ok', 'missing.test') }), text));
    expect(error.code).toBe(OutboundErrorCode.DnsError);
    expect(error.transient).toBe(false);
  });

  it('opens a connection per request without keep-alive, and reuses one with it', async () => {
    const fresh = client({ keepAlive: false });
    await fresh.exchange(request('/ok', { url: url('/ok', 'receiver.test') }), text);
    await fresh.exchange(request('/ok', { url: url('/ok', 'receiver.test') }), text);
    const pooled = client({ keepAlive: true });
    await pooled.exchange(request('/ok'), text);
    await pooled.exchange(request('/ok'), text);
    const [a, b, c, d] = seen.map((entry) => entry.socket);
    expect(a).not.toBe(b);
    expect(c).toBe(d);
  });

  it('keeps the socket of a 304, and of a body read to its end, for the next request', async () => {
    const pooled = client({ keepAlive: true });
    const unchanged = request('/unchanged', { acceptNotModified: true, headers: { 'if-none-match': '"v1"' } });
    // The 304's empty body is never read: the reader only looks at the status.
    expect(await pooled.exchange(unchanged, (response) => Promise.resolve(response.status))).toBe(304);
    expect(await pooled.exchange(unchanged, (response) => Promise.resolve(response.status))).toBe(304);
    await pooled.exchange(request('/ok'), text);
    expect(new Set(seen.map((entry) => entry.socket)).size).toBe(1);
  });

  it('drops the socket of a body left unread, which may still be arriving', async () => {
    const pooled = client({ keepAlive: true });
    await pooled.exchange(request('/drip', { timeoutMs: 3000 }), () => Promise.resolve(null));
    await pooled.exchange(request('/ok'), text);
    const [drip, ok] = seen.map((entry) => entry.socket);
    expect(ok).not.toBe(drip);
  });

  it('ignores proxy settings in the environment, which would make the guard vet the proxy', async () => {
    const saved = { HTTP_PROXY: process.env.HTTP_PROXY, http_proxy: process.env.http_proxy };
    // A port nothing listens on: going through it would fail the request.
    process.env.HTTP_PROXY = 'http://127.0.0.1:9';
    process.env.http_proxy = 'http://127.0.0.1:9';
    try {
      await expect(client().exchange(request('/ok'), text)).resolves.toEqual({ status: 200, body: 'fine' });
    } finally {
      for (const [name, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
    }
  });
});
