import { Inject, Injectable } from '@nestjs/common';
import { type IHasher, createXXHash128 } from 'hash-wasm';
import type { AddressPolicy, Resolver } from '../../common/outbound/address-guard.js';
import { OutboundError, OutboundErrorCode } from '../../common/outbound/outbound-error.js';
import { OutboundHttpClient, type OutboundRequest } from '../../common/outbound/outbound-http-client.js';
import { ImageErrorCode, ImageJobError } from '../image-error.js';
import { BufferPool } from './buffer-pool.js';

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

/** What the client remembers of a URL, sent back as If-None-Match and If-Modified-Since. */
export interface Validators {
  /** A strong ETag, quoted as the server sent it. */
  etag: string | null;
  lastModified: string | null;
}

/** The validators a response carried, and whether it may be remembered at all. */
export interface ResponseValidators extends Validators {
  /** `Cache-Control: no-store`: nothing of this URL may be kept. */
  noStore: boolean;
}

export interface FetchOptions {
  signal?: AbortSignal;
  /** Makes the request conditional; a 304 then resolves to NotModified. */
  validators?: Validators | null;
  /** Compute the body's XXH3-128 digest (FetchedImage.xxh3). */
  hash?: boolean;
}

/** The source answered a conditional request with 304: what was fetched before is still current. */
export interface NotModified {
  notModified: true;
  validators: ResponseValidators;
}

export interface FetchedImage {
  notModified?: false;
  data: Buffer;
  /** XXH3-128 of `data`, hex, when asked for; null otherwise. */
  xxh3: string | null;
  validators: ResponseValidators;
  contentType: string | null;
  finalUrl: string;
  /** Hands `data` back for reuse by a later download; do not touch it afterwards. Optional: the GC frees it too. */
  release(): void;
}

const ACCEPT = 'image/avif,image/webp,image/png,image/jpeg,image/gif,*/*;q=0.5';
const DEFAULT_USER_AGENT = 'pixbatch/0.1';
// Idle download buffers kept for reuse; about one per image in flight is ever idle.
const POOLED_BYTES = 64 * 1024 * 1024;
const POOLED_BUFFER_MAX_BYTES = 16 * 1024 * 1024;

/**
 * Downloads one image over HTTP(S) with bounded time, bytes and redirects,
 * refusing non-public addresses unless private networks are allowed. The
 * outbound client does the HTTP; this class adds what is particular to images:
 * pooled buffers and an empty body counted as a failure.
 */
@Injectable()
export class ImageFetcher {
  private readonly client: OutboundHttpClient;
  private readonly buffers = new BufferPool(POOLED_BYTES, POOLED_BUFFER_MAX_BYTES);
  /** Instantiated (WebAssembly) on first use, then reused: each digest runs start to end without yielding. */
  private hasher: Promise<IHasher> | null = null;

  constructor(@Inject(IMAGE_FETCHER_OPTIONS) private readonly options: ImageFetcherOptions) {
    this.client = new OutboundHttpClient({
      allowPrivateNetworks: options.allowPrivateNetworks,
      resolver: options.resolver,
      isAllowedAddress: options.isAllowedAddress,
      keepAlive: true,
      headers: { Accept: ACCEPT, 'User-Agent': options.userAgent ?? DEFAULT_USER_AGENT },
    });
  }

  /** Downloads `url`; with validators, asks only for a changed body, through the same guard. */
  fetch(url: string, options?: FetchOptions & { validators?: null }): Promise<FetchedImage>;
  fetch(url: string, options: FetchOptions): Promise<FetchedImage | NotModified>;
  async fetch(url: string, options: FetchOptions = {}): Promise<FetchedImage | NotModified> {
    const conditions = conditionalHeaders(options.validators);
    const request: OutboundRequest = {
      method: 'GET',
      url,
      headers: conditions,
      timeoutMs: this.options.timeoutMs,
      redirects: this.options.maxRedirects,
      rejectUnsuccessful: true,
      acceptNotModified: conditions !== undefined,
      maxBytes: this.options.maxBytes,
      signal: options.signal,
    };
    try {
      return await this.client.exchange(request, async (response): Promise<FetchedImage | NotModified> => {
        const validators = responseValidators(response.headers);
        if (response.status === 304) return { notModified: true, validators };
        const contentType = response.headers['content-type'];
        const data = await this.readBody(response.body, declaredLength(response.headers));
        return {
          data,
          xxh3: options.hash ? await this.digest(data) : null,
          validators,
          contentType: typeof contentType === 'string' ? contentType : null,
          finalUrl: response.url.href,
          release: () => this.buffers.release(data),
        };
      });
    } catch (error) {
      throw error instanceof OutboundError ? this.toImageJobError(error) : error;
    }
  }

  /**
   * XXH3-128 of `data`, hex, on the main thread: about 0.1 ms for a 520 KB
   * image, where SHA-256 took 0.3 (bench/README.md). crypto.subtle would run a
   * digest in libuv's pool, where it waits behind the encodes sharp runs there.
   */
  private async digest(data: Buffer): Promise<string> {
    this.hasher ??= createXXHash128();
    const hasher = await this.hasher;
    hasher.init();
    return hasher.update(data).digest('hex');
  }

  /** Drops keep-alive sockets; called by the worker once no job can fetch any more. */
  close(): void {
    this.client.close();
  }

  /** The one place where outbound failures become image failures; codes and transience carry over. */
  private toImageJobError(error: OutboundError): ImageJobError {
    const message =
      error.code === OutboundErrorCode.TooLarge
        ? `The image is larger than ${this.options.maxBytes} bytes`
        : error.message;
    return new ImageJobError(error.code, message, error.transient, { cause: error }, error.pause);
  }

  /**
   * With a trustworthy length the body is copied once into a pooled buffer of
   * that size instead of being collected and concatenated: at dozens of images
   * a second, fresh buffers made V8 run a full collection every few images.
   */
  private async readBody(body: AsyncIterable<Buffer>, length: number | null): Promise<Buffer> {
    const preallocated =
      length !== null && length > 0 && length <= this.options.maxBytes ? this.buffers.acquire(length) : null;
    const chunks: Buffer[] = [];
    let copied = 0;
    let size = 0;
    try {
      // The client stops the body at maxBytes; leaving the loop by throwing drops the connection.
      for await (const chunk of body) {
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
}

/**
 * If-None-Match with a remembered ETag, else If-Modified-Since with a
 * remembered Last-Modified (a server ignores the latter beside the former);
 * undefined when there is neither, and the request is plain.
 */
function conditionalHeaders(validators: Validators | null | undefined): Record<string, string> | undefined {
  if (validators?.etag) return { 'If-None-Match': validators.etag };
  if (validators?.lastModified) return { 'If-Modified-Since': validators.lastModified };
  return undefined;
}

/**
 * The validators of a response. A weak ETag (W/"…") is dropped: it promises
 * an equivalent representation, not the same bytes (servers mark an ETag
 * weak when they re-compress or re-encode on the fly), and an output is
 * reused only for the bytes it was made from. Such a URL is revalidated by
 * its Last-Modified if it has one, else fetched in full and its digest
 * decides, which still saves the encode.
 */
function responseValidators(headers: Record<string, unknown>): ResponseValidators {
  const etag = headers['etag'];
  const lastModified = headers['last-modified'];
  const cacheControl = headers['cache-control'];
  return {
    etag: typeof etag === 'string' && etag.startsWith('"') ? etag : null,
    lastModified: typeof lastModified === 'string' && lastModified !== '' ? lastModified : null,
    noStore: typeof cacheControl === 'string' && /(^|[\s,])no-store([\s,]|$)/i.test(cacheControl),
  };
}

/**
 * What the server says the body's length is; only a hint: axios decompresses
 * a gzip body but leaves its encoded length in the headers.
 */
function declaredLength(headers: Record<string, unknown>): number | null {
  const length = Number(headers['content-length']);
  return Number.isSafeInteger(length) ? length : null;
}
