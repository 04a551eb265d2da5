import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import axios, { type AxiosInstance } from 'axios';
import { ImageErrorCode, ImageJobError, httpErrorCode } from '../image-error.js';
import { BufferPool } from './buffer-pool.js';
import {
  type AddressPolicy,
  BLOCKED_ADDRESS_ERROR_CODE,
  type Resolver,
  assertUrlAllowed,
  createGuardedLookup,
} from './address-guard.js';

export interface ImageFetcherOptions {
  /** One deadline for DNS, connect, headers and the whole body, across all redirects. */
  timeoutMs: number;
  /** Cap on the decoded body. */
  maxBytes: number;
  maxRedirects: number;
  allowPrivateNetworks: boolean;
  resolver?: Resolver;
  /** Which addresses count as reachable when private networks are not allowed; defaults to isPublicAddress. */
  isAllowedAddress?: AddressPolicy;
  userAgent?: string;
}

/** Provider token for the options, for wiring ImageFetcher as a plain class provider. */
export const IMAGE_FETCHER_OPTIONS = Symbol('IMAGE_FETCHER_OPTIONS');

export interface FetchedImage {
  data: Buffer;
  contentType: string | null;
  finalUrl: string;
  /** Hands `data` back for reuse by a later download; do not touch it afterwards. Optional: the GC frees it too. */
  release(): void;
}

const ACCEPT = 'image/avif,image/webp,image/png,image/jpeg,image/gif,*/*;q=0.5';
const DEFAULT_USER_AGENT = 'pixbatch/0.1';
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const RETRYABLE_STATUSES = new Set([408, 425, 429]);
// Idle download buffers kept for reuse; about one per image in flight is ever idle.
const POOLED_BYTES = 64 * 1024 * 1024;
const POOLED_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Downloads one image over HTTP(S) with bounded time, bytes and redirects,
 * refusing non-public addresses unless private networks are allowed.
 */
@Injectable()
export class ImageFetcher {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly client: AxiosInstance;
  private readonly buffers = new BufferPool(POOLED_BYTES, POOLED_BUFFER_MAX_BYTES);

  constructor(@Inject(IMAGE_FETCHER_OPTIONS) private readonly options: ImageFetcherOptions) {
    const lookup = createGuardedLookup(options);
    this.httpAgent = new http.Agent({ keepAlive: true, lookup });
    this.httpsAgent = new https.Agent({ keepAlive: true, lookup });
    this.client = axios.create({
      // The fetch adapter would bypass the agents and with them the address guard.
      adapter: 'http',
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      // An environment proxy would make the guard vet the proxy, not the image host.
      proxy: false,
      // Redirects are followed by hand so that every hop passes assertUrlAllowed.
      maxRedirects: 0,
      responseType: 'stream',
      decompress: true,
      validateStatus: null,
      headers: { Accept: ACCEPT, 'User-Agent': options.userAgent ?? DEFAULT_USER_AGENT },
    });
  }

  async fetch(url: string, signal?: AbortSignal): Promise<FetchedImage> {
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    try {
      return await this.follow(parseUrl(url), signal ? AbortSignal.any([signal, deadline]) : deadline);
    } catch (error) {
      if (error instanceof ImageJobError) {
        throw error;
      }
      if (signal?.aborted) {
        throw signal.reason;
      }
      if (deadline.aborted) {
        throw new ImageJobError(
          ImageErrorCode.FetchTimeout,
          `No complete response within ${this.options.timeoutMs} ms`,
          true,
          { cause: error },
        );
      }
      throw toImageJobError(error);
    }
  }

  /** Drops keep-alive sockets; called by the worker once no job can fetch any more. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async follow(start: URL, signal: AbortSignal): Promise<FetchedImage> {
    let url = start;
    for (let redirects = 0; ; redirects += 1) {
      assertUrlAllowed(url, this.options.allowPrivateNetworks, this.options.isAllowedAddress);
      const response = await this.client.get<Readable>(url.href, { signal });
      const { status } = response;
      const location = response.headers['location'];

      if (REDIRECT_STATUSES.has(status) && typeof location === 'string') {
        response.data.destroy();
        if (redirects >= this.options.maxRedirects) {
          throw new ImageJobError(
            ImageErrorCode.TooManyRedirects,
            `More than ${this.options.maxRedirects} redirects`,
            false,
          );
        }
        url = parseUrl(location, url);
        continue;
      }
      if (status < 200 || status > 299) {
        response.data.destroy();
        throw new ImageJobError(
          httpErrorCode(status),
          `Server answered HTTP ${status}`,
          RETRYABLE_STATUSES.has(status) || (status >= 500 && status <= 599),
        );
      }
      // Content-Length counts encoded bytes; the decoded cap is enforced while reading.
      if (Number(response.headers['content-length']) > this.options.maxBytes) {
        response.data.destroy();
        throw this.tooLarge();
      }
      const contentType = response.headers['content-type'];
      const data = await this.readBody(response.data, declaredLength(response.headers));
      return {
        data,
        contentType: typeof contentType === 'string' ? contentType : null,
        finalUrl: url.href,
        release: () => this.buffers.release(data),
      };
    }
  }

  /**
   * With a trustworthy length the body is copied once into a pooled buffer of
   * that size instead of being collected and concatenated: at dozens of images
   * a second, fresh buffers made V8 run a full collection every few images.
   */
  private async readBody(body: Readable, length: number | null): Promise<Buffer> {
    const preallocated =
      length !== null && length > 0 && length <= this.options.maxBytes ? this.buffers.acquire(length) : null;
    const chunks: Buffer[] = [];
    let copied = 0;
    let size = 0;
    try {
      // Leaving the loop by throwing destroys the stream and its socket.
      for await (const chunk of body as AsyncIterable<Buffer>) {
        if (size + chunk.length > this.options.maxBytes) {
          throw this.tooLarge();
        }
        if (preallocated && copied === size && size + chunk.length <= preallocated.length) {
          chunk.copy(preallocated, size);
          copied += chunk.length;
        } else {
          chunks.push(chunk);
        }
        size += chunk.length;
      }
      if (size === 0) {
        throw new ImageJobError(ImageErrorCode.EmptyBody, 'The response body is empty', false);
      }
    } catch (error) {
      if (preallocated) this.buffers.release(preallocated);
      throw error;
    }
    if (preallocated && copied === preallocated.length && size === copied) return preallocated;
    // No length, or a body that differs from it: keep what actually arrived.
    const data = Buffer.concat(preallocated ? [preallocated.subarray(0, copied), ...chunks] : chunks, size);
    if (preallocated) this.buffers.release(preallocated);
    return data;
  }

  private tooLarge(): ImageJobError {
    return new ImageJobError(ImageErrorCode.TooLarge, `The image is larger than ${this.options.maxBytes} bytes`, false);
  }
}

/**
 * What the server says the body's length is; only a hint: axios decompresses
 * a gzip body but leaves its encoded length in the headers.
 */
function declaredLength(headers: Record<string, unknown>): number | null {
  const length = Number(headers['content-length']);
  return Number.isSafeInteger(length) ? length : null;
}

function parseUrl(input: string, base?: URL): URL {
  try {
    return new URL(input, base);
  } catch (error) {
    const what = base ? 'The redirect target' : 'The URL';
    throw new ImageJobError(ImageErrorCode.InvalidUrl, `${what} is not a valid URL`, false, { cause: error });
  }
}

function toImageJobError(error: unknown): ImageJobError {
  // axios copies the code of the socket, DNS or lookup error it wraps.
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case BLOCKED_ADDRESS_ERROR_CODE:
      // axios keeps the guard's message, which names the host and the address.
      return new ImageJobError(ImageErrorCode.BlockedAddress, (error as Error).message, false, { cause: error });
    case 'ENOTFOUND':
      return new ImageJobError(ImageErrorCode.DnsError, 'The host name does not resolve', false, { cause: error });
    case 'EAI_AGAIN':
      return new ImageJobError(ImageErrorCode.DnsError, 'DNS lookup failed temporarily', true, { cause: error });
    case 'ETIMEDOUT':
      return new ImageJobError(ImageErrorCode.FetchTimeout, 'The connection timed out', true, { cause: error });
    default:
      // ECONNREFUSED, ECONNRESET (also "socket hang up"), EPIPE, unreachable
      // networks and bodies cut short: worth another attempt later.
      return new ImageJobError(ImageErrorCode.ConnectionError, `Connection failed (${code ?? 'unknown'})`, true, {
        cause: error,
      });
  }
}
