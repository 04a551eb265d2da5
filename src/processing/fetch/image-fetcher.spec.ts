import { expect } from '@jest/globals';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import { gzipSync } from 'node:zlib';
import { xxhash128 } from 'hash-wasm';
import { ImageErrorCode, ImageJobError } from '../image-error.js';
import type { ResolvedAddress } from '../../common/outbound/address-guard.js';
import { ImageFetcher, type ImageFetcherOptions } from './image-fetcher.js';

const IMAGE = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
const MAX_BYTES = 1024;
const LARGER_IMAGE = Buffer.concat([IMAGE, Buffer.alloc(900, 7)]);
const TIMEOUT_MS = 500;
const REDIRECT_STATUSES = [301, 302, 303, 307, 308];
const LAST_MODIFIED = 'Sun, 06 Dec 2026 10:00:00 GMT';

interface SeenRequest {
  path: string;
  host: string | undefined;
  headers: http.IncomingHttpHeaders;
}

describe('ImageFetcher', () => {
  let server: http.Server;
  let port: number;
  let seen: SeenRequest[];
  const fetchers: ImageFetcher[] = [];

  const url = (path: string, host = '127.0.0.1'): string => `http://${host}:${port}${path}`;
  const paths = (): string[] => seen.map((request) => request.path);

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const path = req.url ?? '/';
    seen.push({ path, host: req.headers.host, headers: req.headers });
    const { pathname } = new URL(path, 'http://server.test');

    const redirect = /^\/redirect\/(\d+)$/.exec(pathname);
    if (redirect) {
      const remaining = Number(redirect[1]);
      const status = REDIRECT_STATUSES[remaining % REDIRECT_STATUSES.length];
      res.writeHead(status, { location: remaining > 1 ? `/redirect/${remaining - 1}` : '/image' }).end();
      return;
    }
    const status = /^\/status\/(\d+)$/.exec(pathname);
    if (status) {
      res.writeHead(Number(status[1]), { 'content-type': 'text/plain' }).end('secret server diagnostics');
      return;
    }

    switch (pathname) {
      case '/image':
      case '/target':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE);
        return;
      case '/empty':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': 0 }).end();
        return;
      case '/declared-too-large':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': MAX_BYTES + 1 });
        res.end(Buffer.alloc(MAX_BYTES + 1));
        return;
      case '/chunked-too-large':
        res.writeHead(200, { 'content-type': 'image/png' });
        for (let i = 0; i < 8; i += 1) {
          res.write(Buffer.alloc(256));
        }
        res.end();
        return;
      case '/gzip-bomb': {
        const compressed = gzipSync(Buffer.alloc(MAX_BYTES * 64));
        res.writeHead(200, {
          'content-type': 'image/png',
          'content-encoding': 'gzip',
          'content-length': compressed.length,
        });
        res.end(compressed);
        return;
      }
      case '/gzip-image': {
        // Content-Length is the compressed size, which is not the size of what the caller gets.
        const compressed = gzipSync(LARGER_IMAGE);
        res.writeHead(200, {
          'content-type': 'image/png',
          'content-encoding': 'gzip',
          'content-length': compressed.length,
        });
        res.end(compressed);
        return;
      }
      case '/image-in-chunks':
        res.writeHead(200, { 'content-type': 'image/png', 'content-length': LARGER_IMAGE.length });
        res.write(LARGER_IMAGE.subarray(0, 300));
        setTimeout(() => res.end(LARGER_IMAGE.subarray(300)), 20);
        return;
      case '/drip': {
        res.writeHead(200, { 'content-type': 'image/png' });
        const timer = setInterval(() => res.write(Buffer.alloc(1)), 200);
        res.on('close', () => clearInterval(timer));
        return;
      }
      case '/hang':
        return;
      case '/relative-redirect':
        res.writeHead(302, { location: 'image?from=relative' }).end();
        return;
      case '/redirect-without-location':
        res.writeHead(302).end();
        return;
      case '/invalid-location':
        res.writeHead(302, { location: 'http://[::1' }).end();
        return;
      case '/to-blocked-literal':
        res.writeHead(302, { location: url('/target', '127.0.0.2') }).end();
        return;
      case '/to-blocked-name':
        res.writeHead(302, { location: url('/target', 'blocked.test') }).end();
        return;
      case '/validated': {
        // Answers 304 to either validator when it matches, as a static file server does.
        const headers = { etag: '"v1"', 'last-modified': LAST_MODIFIED };
        if (req.headers['if-none-match'] === '"v1"' || req.headers['if-modified-since'] === LAST_MODIFIED) {
          res.writeHead(304, headers).end();
          return;
        }
        res.writeHead(200, { ...headers, 'content-type': 'image/png', 'content-length': IMAGE.length }).end(IMAGE);
        return;
      }
      case '/weak-etag':
        res.writeHead(200, { etag: 'W/"w1"', 'content-type': 'image/png' }).end(IMAGE);
        return;
      case '/no-store':
        res
          .writeHead(200, { etag: '"n1"', 'cache-control': 'private, no-store', 'content-type': 'image/png' })
          .end(IMAGE);
        return;
      case '/to-validated':
        res.writeHead(302, { location: '/validated' }).end();
        return;
      case '/to-blocked-validated':
        res.writeHead(302, { location: url('/validated', 'blocked.test') }).end();
        return;
      case '/to-other-host':
        res.writeHead(302, { location: url('/image', 'other.test') }).end();
        return;
      default:
        res.writeHead(404).end();
    }
  };

  // Names the tests use, all on loopback; nothing leaves the machine.
  const resolver = (hostname: string): Promise<ResolvedAddress[]> => {
    const addresses: Record<string, string> = {
      'public.test': '127.0.0.1',
      'other.test': '127.0.0.1',
      'intranet.test': '127.0.0.1',
      'blocked.test': '127.0.0.2',
    };
    if (hostname === 'flaky.test') {
      return Promise.reject(Object.assign(new Error('getaddrinfo EAI_AGAIN flaky.test'), { code: 'EAI_AGAIN' }));
    }
    const address = addresses[hostname];
    if (!address) {
      return Promise.reject(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }));
    }
    return Promise.resolve([{ address, family: 4 }]);
  };

  const fetcher = (overrides: Partial<ImageFetcherOptions> = {}): ImageFetcher => {
    const created = new ImageFetcher({
      timeoutMs: TIMEOUT_MS,
      maxBytes: MAX_BYTES,
      maxRedirects: 3,
      allowPrivateNetworks: true,
      resolver,
      ...overrides,
    });
    fetchers.push(created);
    return created;
  };

  const failure = async (promise: Promise<unknown>): Promise<ImageJobError> => {
    const error = await promise.then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(ImageJobError);
    return error as ImageJobError;
  };

  beforeAll(async () => {
    server = http.createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });

  beforeEach(() => {
    seen = [];
  });

  afterEach(() => {
    fetchers.splice(0).forEach((created) => created.close());
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  describe('success', () => {
    it('downloads an image and reports its type and final URL', async () => {
      const result = await fetcher().fetch(url('/image'));
      expect(result).toEqual({
        data: IMAGE,
        xxh3: null,
        validators: { etag: null, lastModified: null, noStore: false },
        contentType: 'image/png',
        finalUrl: url('/image'),
        release: expect.any(Function),
      });
    });

    it('reuses the memory of a released download for the next one', async () => {
      const created = fetcher();
      const first = await created.fetch(url('/image'));
      const memory = first.data.buffer;
      first.release();

      const second = await created.fetch(url('/image'));

      expect(second.data.buffer).toBe(memory);
      expect(second.data).toEqual(IMAGE);
    });

    it('never shares memory between downloads that are both still held', async () => {
      const created = fetcher();
      const [first, second] = await Promise.all([created.fetch(url('/image')), created.fetch(url('/image'))]);

      expect(second.data.buffer).not.toBe(first.data.buffer);
    });

    it('asks for images and names itself', async () => {
      await fetcher().fetch(url('/image'));
      expect(seen[0].headers.accept).toBe('image/avif,image/webp,image/png,image/jpeg,image/gif,*/*;q=0.5');
      expect(seen[0].headers['user-agent']).toBe('pixbatch/0.1');
    });

    it('assembles a body that arrives in several chunks', async () => {
      const result = await fetcher().fetch(url('/image-in-chunks'));
      expect(result.data).toEqual(LARGER_IMAGE);
    });

    it('returns the decoded body of a compressed response whatever its Content-Length says', async () => {
      const result = await fetcher().fetch(url('/gzip-image'));
      expect(result.data).toEqual(LARGER_IMAGE);
    });

    it('uses a configured User-Agent', async () => {
      await fetcher({ userAgent: 'pixbatch-test/1' }).fetch(url('/image'));
      expect(seen[0].headers['user-agent']).toBe('pixbatch-test/1');
    });
  });

  describe('conditional requests', () => {
    it('reports the validators and, when asked, the XXH3-128 digest of the body', async () => {
      const result = await fetcher().fetch(url('/validated'), { hash: true });
      expect(result).toMatchObject({
        data: IMAGE,
        xxh3: await xxhash128(IMAGE),
        validators: { etag: '"v1"', lastModified: LAST_MODIFIED, noStore: false },
      });
    });

    it('sends a remembered ETag as If-None-Match and tells a 304 apart, with no body', async () => {
      const result = await fetcher().fetch(url('/validated'), {
        validators: { etag: '"v1"', lastModified: LAST_MODIFIED },
        hash: true,
      });
      expect(result).toEqual({
        notModified: true,
        validators: { etag: '"v1"', lastModified: LAST_MODIFIED, noStore: false },
      });
      // If-Modified-Since is left out beside If-None-Match, which a server would weigh first.
      expect(seen[0].headers).toMatchObject({ 'if-none-match': '"v1"' });
      expect(seen[0].headers['if-modified-since']).toBeUndefined();
    });

    it('sends a remembered Last-Modified as If-Modified-Since when there is no ETag', async () => {
      const result = await fetcher().fetch(url('/validated'), {
        validators: { etag: null, lastModified: LAST_MODIFIED },
      });
      expect(result.notModified).toBe(true);
      expect(seen[0].headers['if-modified-since']).toBe(LAST_MODIFIED);
    });

    it('takes a 200 to a conditional request as a full download', async () => {
      const result = await fetcher().fetch(url('/validated'), { validators: { etag: '"v0"', lastModified: null } });
      expect(result).toMatchObject({ data: IMAGE, validators: { etag: '"v1"' } });
    });

    it('sends a plain request when there is no validator to send', async () => {
      const result = await fetcher().fetch(url('/validated'), { validators: { etag: null, lastModified: null } });
      expect(result).toMatchObject({ data: IMAGE });
      expect(seen[0].headers['if-none-match']).toBeUndefined();
      expect(seen[0].headers['if-modified-since']).toBeUndefined();
    });

    it('fails a 304 to a request that was not conditional, as before', async () => {
      const error = await failure(fetcher().fetch(url('/status/304')));
      expect(error.code).toBe('HTTP_304');
    });

    it('keeps no weak ETag: it promises an equivalent body, not the same bytes', async () => {
      const result = await fetcher().fetch(url('/weak-etag'));
      expect(result).toMatchObject({ data: IMAGE, validators: { etag: null, lastModified: null } });
    });

    it('reports Cache-Control: no-store', async () => {
      const result = await fetcher().fetch(url('/no-store'));
      expect(result).toMatchObject({ validators: { etag: '"n1"', noStore: true } });
    });

    it('follows a redirect with the condition and hands over the 304 that ends it', async () => {
      const result = await fetcher().fetch(url('/to-validated'), { validators: { etag: '"v1"', lastModified: null } });
      expect(result.notModified).toBe(true);
      expect(paths()).toEqual(['/to-validated', '/validated']);
      expect(seen[1].headers['if-none-match']).toBe('"v1"');
    });

    it('vets a conditional request like any other: a redirect to a blocked address fails', async () => {
      const guarded = fetcher({ allowPrivateNetworks: false, resolver, isAllowedAddress: (ip) => ip === '127.0.0.1' });
      const error = await failure(
        guarded.fetch(url('/to-blocked-validated', 'public.test'), {
          validators: { etag: '"v1"', lastModified: null },
        }),
      );
      expect(error.code).toBe(ImageErrorCode.BlockedAddress);
      expect(paths()).toEqual(['/to-blocked-validated']);
    });

    it('fails an error status to a conditional request: nothing is handed over', async () => {
      const error = await failure(
        fetcher().fetch(url('/status/500'), { validators: { etag: '"v1"', lastModified: null } }),
      );
      expect(error.code).toBe('HTTP_500');
    });
  });

  describe('address guard', () => {
    it.each([
      ['an IP literal', () => url('/image'), resolver],
      ['localhost, through the system resolver', () => url('/image', 'localhost'), undefined],
      ['a name the resolver maps to loopback', () => url('/image', 'intranet.test'), resolver],
    ])('blocks %s without connecting', async (_, target, nameResolver) => {
      const error = await failure(fetcher({ allowPrivateNetworks: false, resolver: nameResolver }).fetch(target()));
      expect(error.code).toBe(ImageErrorCode.BlockedAddress);
      expect(error.retryable).toBe(false);
      expect(seen).toEqual([]);
    });

    describe('with a policy that allows only 127.0.0.1', () => {
      const guarded = (): ImageFetcher =>
        fetcher({ allowPrivateNetworks: false, isAllowedAddress: (ip) => ip === '127.0.0.1' });

      it('fetches from an allowed host name', async () => {
        const result = await guarded().fetch(url('/image', 'public.test'));
        expect(result.data).toEqual(IMAGE);
        expect(seen.map((request) => request.host)).toEqual([`public.test:${port}`]);
      });

      it.each([
        ['an IP literal', '/to-blocked-literal'],
        ['a name resolving to a blocked address', '/to-blocked-name'],
      ])('blocks a redirect to %s', async (_, path) => {
        const error = await failure(guarded().fetch(url(path, 'public.test')));
        expect(error.code).toBe(ImageErrorCode.BlockedAddress);
        expect(error.retryable).toBe(false);
        expect(paths()).toEqual([path]);
      });
    });
  });

  describe('HTTP status', () => {
    it.each([
      [404, false],
      [403, false],
      [410, false],
      [408, true],
      [425, true],
      [429, true],
      [500, true],
      [503, true],
    ])('maps %i to HTTP_<status> (retryable: %s)', async (status, retryable) => {
      const error = await failure(fetcher().fetch(url(`/status/${status}`)));
      expect(error.code).toBe(`HTTP_${status}`);
      expect(error.retryable).toBe(retryable);
      expect(error.message).not.toContain('secret');
    });

    it('treats an empty 200 as a permanent failure', async () => {
      const error = await failure(fetcher().fetch(url('/empty')));
      expect(error.code).toBe(ImageErrorCode.EmptyBody);
      expect(error.retryable).toBe(false);
    });
  });

  describe('redirects', () => {
    it('follows a chain of as many redirects as allowed, across 301/302/303/307/308', async () => {
      const result = await fetcher({ maxRedirects: 3 }).fetch(url('/redirect/3'));
      expect(result.data).toEqual(IMAGE);
      expect(result.finalUrl).toBe(url('/image'));
      expect(paths()).toEqual(['/redirect/3', '/redirect/2', '/redirect/1', '/image']);
    });

    it('stops a chain longer than maxRedirects', async () => {
      const error = await failure(fetcher({ maxRedirects: 3 }).fetch(url('/redirect/4')));
      expect(error.code).toBe(ImageErrorCode.TooManyRedirects);
      expect(error.retryable).toBe(false);
      expect(paths()).toEqual(['/redirect/4', '/redirect/3', '/redirect/2', '/redirect/1']);
    });

    it('follows no redirect when maxRedirects is 0', async () => {
      const error = await failure(fetcher({ maxRedirects: 0 }).fetch(url('/redirect/1')));
      expect(error.code).toBe(ImageErrorCode.TooManyRedirects);
    });

    it('resolves a relative Location against the current URL', async () => {
      const result = await fetcher().fetch(url('/relative-redirect'));
      expect(result.finalUrl).toBe(url('/image?from=relative'));
    });

    it('reports a redirect without Location as its status', async () => {
      const error = await failure(fetcher().fetch(url('/redirect-without-location')));
      expect(error.code).toBe('HTTP_302');
      expect(error.retryable).toBe(false);
    });

    it('rejects an invalid Location', async () => {
      const error = await failure(fetcher().fetch(url('/invalid-location')));
      expect(error.code).toBe(ImageErrorCode.InvalidUrl);
    });

    it('does not carry credentials to another host', async () => {
      const start = url('/to-other-host').replace('http://', 'http://user:secret@');
      await fetcher().fetch(start);
      expect(seen.map((request) => [request.host, request.headers.authorization])).toEqual([
        [`127.0.0.1:${port}`, `Basic ${Buffer.from('user:secret').toString('base64')}`],
        [`other.test:${port}`, undefined],
      ]);
    });
  });

  describe('size cap', () => {
    it('rejects a declared Content-Length over the cap', async () => {
      const error = await failure(fetcher().fetch(url('/declared-too-large')));
      expect(error.code).toBe(ImageErrorCode.TooLarge);
      expect(error.retryable).toBe(false);
    });

    it('rejects a chunked body that grows over the cap', async () => {
      const error = await failure(fetcher().fetch(url('/chunked-too-large')));
      expect(error.code).toBe(ImageErrorCode.TooLarge);
    });

    it('counts decoded bytes, not compressed ones', async () => {
      const error = await failure(fetcher().fetch(url('/gzip-bomb')));
      expect(error.code).toBe(ImageErrorCode.TooLarge);
    });
  });

  describe('time limit', () => {
    it.each([
      ['drips its body a byte at a time', '/drip'],
      ['never answers', '/hang'],
    ])('cuts off a server that %s at the deadline', async (_, path) => {
      const started = Date.now();
      const error = await failure(fetcher().fetch(url(path)));
      const elapsed = Date.now() - started;
      expect(error.code).toBe(ImageErrorCode.FetchTimeout);
      expect(error.retryable).toBe(true);
      expect(elapsed).toBeGreaterThanOrEqual(TIMEOUT_MS - 50);
      expect(elapsed).toBeLessThan(TIMEOUT_MS + 500);
    });

    it("stops when the caller's signal aborts, with the caller's reason", async () => {
      const controller = new AbortController();
      const reason = new Error('worker shutting down');
      setTimeout(() => controller.abort(reason), 50);
      await expect(fetcher({ timeoutMs: 5000 }).fetch(url('/hang'), { signal: controller.signal })).rejects.toBe(
        reason,
      );
    });
  });

  describe('network failures', () => {
    it('reports a refused connection as retryable', async () => {
      const closed = http.createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise((resolve) => closed.close(resolve));

      const error = await failure(fetcher().fetch(`http://127.0.0.1:${closedPort}/image`));
      expect(error.code).toBe(ImageErrorCode.ConnectionError);
      expect(error.retryable).toBe(true);
    });

    it('reports an unknown host as a permanent DNS error', async () => {
      const error = await failure(fetcher().fetch(url('/image', 'missing.test')));
      expect(error.code).toBe(ImageErrorCode.DnsError);
      expect(error.retryable).toBe(false);
    });

    it('reports a temporary DNS failure as retryable', async () => {
      const error = await failure(fetcher().fetch(url('/image', 'flaky.test')));
      expect(error.code).toBe(ImageErrorCode.DnsError);
      expect(error.retryable).toBe(true);
    });
  });

  describe('invalid URLs', () => {
    it.each(['not a url', 'ftp://127.0.0.1/image.png', 'file:///etc/passwd'])('rejects %s', async (input) => {
      const error = await failure(fetcher().fetch(input));
      expect(error.code).toBe(ImageErrorCode.InvalidUrl);
      expect(error.retryable).toBe(false);
      expect(seen).toEqual([]);
    });
  });
});
