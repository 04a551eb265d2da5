import { expect } from '@jest/globals';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startLoopbackServer, stopLoopbackServer } from '../../test/support/loopback-server.js';
import type { ResolvedAddress } from '../common/outbound/address-guard.js';
import { RESPONSE_BODY_LIMIT, WebhookSender, type WebhookSenderOptions } from './webhook-sender.js';

// Generous: two shared cores can take a while over a first request; only /hang is meant to time out.
const TIMEOUT_MS = 3000;
const SHORT_TIMEOUT_MS = 300;

describe('WebhookSender', () => {
  let server: http.Server;
  let port: number;
  let seen: { path: string; headers: http.IncomingHttpHeaders; body: string }[];

  const url = (path: string, host = '127.0.0.1'): string => `http://${host}:${port}${path}`;

  beforeAll(async () => {
    ({ server } = await startLoopbackServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '/';
        seen.push({ path, headers: req.headers, body: Buffer.concat(chunks).toString() });
        switch (path) {
          case '/accept':
            res.writeHead(204).end();
            return;
          case '/chatty':
            res.writeHead(200, { 'content-type': 'text/plain' }).end('a'.repeat(RESPONSE_BODY_LIMIT * 3));
            return;
          case '/moved':
            res.writeHead(301, { location: url('/accept') }).end();
            return;
          case '/busy':
            res.writeHead(429, { 'retry-after': '120' }).end('slow down');
            return;
          case '/hang':
            return;
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

  afterAll(() => stopLoopbackServer(server));

  const resolver = (hostname: string): Promise<ResolvedAddress[]> => {
    if (hostname === 'receiver.test') return Promise.resolve([{ address: '127.0.0.1', family: 4 }]);
    return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
  };

  const sender = (overrides: Partial<WebhookSenderOptions> = {}): WebhookSender =>
    new WebhookSender({ timeoutMs: TIMEOUT_MS, allowPrivateNetworks: true, resolver, ...overrides });

  it('POSTs the signed event as JSON on a connection of its own', async () => {
    const sent = await sender().post(url('/accept'), { 'webhook-id': 'msg_1' }, '{"type":"request.completed"}');
    expect(sent).toMatchObject({ statusCode: 204, errorCode: null, errorMessage: null, responseBody: '' });
    expect(seen).toEqual([
      {
        path: '/accept',
        body: '{"type":"request.completed"}',
        headers: expect.objectContaining({
          'webhook-id': 'msg_1',
          'content-type': 'application/json',
          'user-agent': 'pixbatch-webhooks/0.1',
          connection: 'close',
        }),
      },
    ]);
  });

  it('keeps only the start of a long response body', async () => {
    const sent = await sender().post(url('/chatty'), {}, '{}');
    expect(sent.statusCode).toBe(200);
    expect(sent.responseBody).toHaveLength(RESPONSE_BODY_LIMIT);
  });

  it('records a redirect as a failure and does not follow it', async () => {
    const sent = await sender().post(url('/moved'), {}, '{}');
    expect(sent).toMatchObject({
      statusCode: 301,
      errorCode: 'HTTP_301',
      errorMessage: `Receiver answered HTTP 301; redirect to ${url('/accept')} not followed`,
    });
    expect(seen.map((entry) => entry.path)).toEqual(['/moved']);
  });

  it("passes the receiver's Retry-After on", async () => {
    const sent = await sender().post(url('/busy'), {}, '{}');
    expect(sent).toMatchObject({
      statusCode: 429,
      errorCode: 'HTTP_429',
      retryAfter: '120',
      responseBody: 'slow down',
    });
  });

  it('records a receiver that does not answer in time as TIMEOUT', async () => {
    const sent = await sender({ timeoutMs: SHORT_TIMEOUT_MS }).post(url('/hang'), {}, '{}');
    expect(sent).toMatchObject({
      statusCode: null,
      errorCode: 'TIMEOUT',
      errorMessage: `No response within ${SHORT_TIMEOUT_MS} ms`,
    });
    expect(sent.durationMs).toBeGreaterThanOrEqual(SHORT_TIMEOUT_MS - 50);
  });

  it.each([
    ['an IP literal', () => url('/accept')],
    ['a name resolving to loopback', () => url('/accept', 'receiver.test')],
  ])('refuses %s that is not public without connecting', async (_, target) => {
    const sent = await sender({ allowPrivateNetworks: false }).post(target(), {}, '{}');
    expect(sent).toMatchObject({ statusCode: null, errorCode: 'BLOCKED_ADDRESS' });
    expect(sent.errorMessage).toContain('127.0.0.1');
    expect(seen).toEqual([]);
  });

  it('records a host that does not resolve as DNS_ERROR', async () => {
    const sent = await sender().post(url('/accept', 'missing.test'), {}, '{}');
    expect(sent).toMatchObject({
      statusCode: null,
      errorCode: 'DNS_ERROR',
      errorMessage: 'The host name did not resolve',
    });
  });

  it('records a refused connection as CONNECTION_ERROR', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));

    const sent = await sender().post(`http://127.0.0.1:${closedPort}/`, {}, '{}');
    expect(sent).toMatchObject({
      statusCode: null,
      errorCode: 'CONNECTION_ERROR',
      errorMessage: 'Connection failed (ECONNREFUSED)',
    });
  });

  it('records a URL that is not http(s) as INVALID_URL', async () => {
    const sent = await sender().post('ftp://127.0.0.1/hook', {}, '{}');
    expect(sent).toMatchObject({ statusCode: null, errorCode: 'INVALID_URL' });
  });
});
