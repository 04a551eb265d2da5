import { Inject, Injectable } from '@nestjs/common';
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

export interface FetchedImage {
  data: Buffer;
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

  constructor(@Inject(IMAGE_FETCHER_OPTIONS) private readonly options: ImageFetcherOptions) {
    this.client = new OutboundHttpClient({
      allowPrivateNetworks: options.allowPrivateNetworks,
      resolver: options.resolver,
      isAllowedAddress: options.isAllowedAddress,
      keepAlive: true,
      headers: { Accept: ACCEPT, 'User-Agent': options.userAgent ?? DEFAULT_USER_AGENT },
    });
  }

  async fetch(url: string, signal?: AbortSignal): Promise<FetchedImage> {
    const request: OutboundRequest = {
      method: 'GET',
      url,
      timeoutMs: this.options.timeoutMs,
      redirects: this.options.maxRedirects,
      rejectUnsuccessful: true,
      maxBytes: this.options.maxBytes,
      signal,
    };
    try {
      return await this.client.exchange(request, async (response) => {
        const contentType = response.headers['content-type'];
        const data = await this.readBody(response.body, declaredLength(response.headers));
        return {
          data,
          contentType: typeof contentType === 'string' ? contentType : null,
          finalUrl: response.url.href,
          release: () => this.buffers.release(data),
        };
      });
    } catch (error) {
      throw error instanceof OutboundError ? this.toImageJobError(error) : error;
    }
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
 * What the server says the body's length is; only a hint: axios decompresses
 * a gzip body but leaves its encoded length in the headers.
 */
function declaredLength(headers: Record<string, unknown>): number | null {
  const length = Number(headers['content-length']);
  return Number.isSafeInteger(length) ? length : null;
}
