import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import {
  type AddressPolicy,
  BLOCKED_ADDRESS_ERROR_CODE,
  type Resolver,
  assertUrlAllowed,
  createGuardedLookup,
} from './address-guard.js';
import { OutboundError, OutboundErrorCode, httpErrorCode } from './outbound-error.js';
import { hostAndPort, retryAfterMs } from './retry-after.js';

export interface OutboundClientOptions {
  allowPrivateNetworks: boolean;
  resolver?: Resolver;
  /** Which addresses count as reachable when private networks are not allowed; defaults to isPublicAddress. */
  isAllowedAddress?: AddressPolicy;
  /**
   * Reuse connections between requests. Off means every request resolves, and
   * so is vetted by the guard, afresh instead of riding a socket whose address
   * was checked hours ago.
   */
  keepAlive: boolean;
  /** Sent with every request (User-Agent, Accept); a request's own headers win. */
  headers: Record<string, string>;
}

export interface OutboundRequest {
  method: 'GET' | 'POST';
  url: string;
  headers?: Record<string, string>;
  body?: Buffer;
  /** One deadline for DNS, connect, sending, the headers and reading the body, across all redirects. */
  timeoutMs: number;
  /**
   * How many redirects to follow, each hop vetted by the guard; one more fails
   * with TOO_MANY_REDIRECTS. `'none'`: a 3xx is handed over like any response.
   */
  redirects: number | 'none';
  /** Fail with HTTP_<status> on any status outside 2xx instead of handing the response over. */
  rejectUnsuccessful: boolean;
  /**
   * A conditional request's caller: a 304 Not Modified is handed over (with
   * no body) instead of failing as HTTP_304. Only the final answer counts: a
   * redirect is still followed, each hop vetted by the guard.
   */
  acceptNotModified?: boolean;
  /** Cap on the decoded body: a larger declared or actual body fails with TOO_LARGE. */
  maxBytes?: number;
  /** The caller's own cancellation; its reason is thrown as is, not translated. */
  signal?: AbortSignal;
}

export interface OutboundResponse {
  status: number;
  headers: Record<string, unknown>;
  /** The URL that answered, after redirects. */
  url: URL;
  /**
   * The decoded body. Network failures, the deadline and the byte cap surface
   * from iterating it as OutboundErrors; leaving the loop early drops the connection.
   */
  body: AsyncIterable<Buffer>;
}

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const TRANSIENT_STATUSES = new Set([408, 425, 429]);

/**
 * The one way this service talks HTTP to hosts its users name (image URLs,
 * webhook receivers): address guard at DNS time and on every hop, redirects
 * followed by hand, one deadline, a byte cap, and failures in one vocabulary.
 */
export class OutboundHttpClient {
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly axios: AxiosInstance;

  constructor(private readonly options: OutboundClientOptions) {
    const lookup = createGuardedLookup(options);
    this.httpAgent = new http.Agent({ keepAlive: options.keepAlive, lookup });
    this.httpsAgent = new https.Agent({ keepAlive: options.keepAlive, lookup });
    this.axios = axios.create({
      // The fetch adapter would bypass the agents and with them the address guard.
      adapter: 'http',
      httpAgent: this.httpAgent,
      httpsAgent: this.httpsAgent,
      // An environment proxy would make the guard vet the proxy, not the target host.
      proxy: false,
      // Redirects are followed by hand so that every hop passes assertUrlAllowed.
      maxRedirects: 0,
      responseType: 'stream',
      decompress: true,
      validateStatus: null,
      headers: options.headers,
    });
  }

  /**
   * Sends the request and hands the response to `read` within the deadline.
   * Errors `read` throws itself pass through untouched; everything the network
   * does wrong arrives as an OutboundError.
   */
  async exchange<T>(request: OutboundRequest, read: (response: OutboundResponse) => Promise<T>): Promise<T> {
    const deadline = AbortSignal.timeout(request.timeoutMs);
    const signal = request.signal ? AbortSignal.any([request.signal, deadline]) : deadline;
    const translate = (error: unknown): unknown => {
      if (error instanceof OutboundError) return error;
      if (request.signal?.aborted) return request.signal.reason;
      if (deadline.aborted) {
        return new OutboundError(
          OutboundErrorCode.Timeout,
          `No complete response within ${request.timeoutMs} ms`,
          true,
          {
            cause: error,
          },
        );
      }
      return fromNetworkError(error);
    };

    let response: AxiosResponse<Readable>;
    let url: URL;
    try {
      ({ response, url } = await this.follow(request, signal));
    } catch (error) {
      throw translate(error);
    }
    try {
      return await read({
        status: response.status,
        headers: response.headers,
        url,
        body: cappedBody(response.data, request.maxBytes, translate),
      });
    } finally {
      await release(response.data);
    }
  }

  /** Drops keep-alive sockets; called once no request can be in flight any more. */
  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private async follow(
    request: OutboundRequest,
    signal: AbortSignal,
  ): Promise<{ response: AxiosResponse<Readable>; url: URL }> {
    let url = parseUrl(request.url);
    for (let redirects = 0; ; redirects += 1) {
      assertUrlAllowed(url, this.options.allowPrivateNetworks, this.options.isAllowedAddress);
      const response = await this.axios.request<Readable>({
        method: request.method,
        url: url.href,
        headers: request.headers,
        data: request.body,
        signal,
      });
      const { status } = response;
      const location: unknown = response.headers['location'];

      if (request.redirects !== 'none' && REDIRECT_STATUSES.has(status) && typeof location === 'string') {
        response.data.destroy();
        if (redirects >= request.redirects) {
          throw new OutboundError(
            OutboundErrorCode.TooManyRedirects,
            `More than ${request.redirects} redirects`,
            false,
          );
        }
        url = parseUrl(location, url);
        continue;
      }
      const handedOver = (status >= 200 && status <= 299) || (status === 304 && request.acceptNotModified === true);
      if (request.rejectUnsuccessful && !handedOver) {
        response.data.destroy();
        // The body is not quoted: it may carry the server's internals. A
        // Retry-After counts against the host that answered, redirects included.
        const wait = status === 429 || status === 503 ? retryAfterMs(response.headers['retry-after']) : null;
        throw new OutboundError(
          httpErrorCode(status),
          `Server answered HTTP ${status}`,
          TRANSIENT_STATUSES.has(status) || (status >= 500 && status <= 599),
          undefined,
          wait === null ? undefined : { host: hostAndPort(url), ms: wait },
        );
      }
      // Content-Length counts encoded bytes; the decoded cap is enforced while reading.
      if (request.maxBytes !== undefined && Number(response.headers['content-length']) > request.maxBytes) {
        response.data.destroy();
        throw tooLarge(request.maxBytes);
      }
      return { response, url };
    }
  }
}

/**
 * Ends a response the reader is done with. A body the server sent in full
 * (a 304 has none) is drained, so that its keep-alive socket goes back to
 * the agent: destroying an unread response destroys its socket, and each
 * conditional request of a re-run then opened a connection of its own. A
 * body not read to its end is destroyed, socket and all.
 */
async function release(body: Readable): Promise<void> {
  if (body.readableEnded) return;
  if ((body as Partial<http.IncomingMessage>).complete !== true) {
    body.destroy();
    return;
  }
  // Its end, a tick away, is what frees the socket: the next request, often right
  // after, would otherwise find it still busy and open another.
  const ended = finished(body).catch(() => undefined);
  body.resume();
  await ended;
}

async function* cappedBody(
  stream: Readable,
  maxBytes: number | undefined,
  translate: (error: unknown) => unknown,
): AsyncGenerator<Buffer> {
  let size = 0;
  try {
    // Leaving the loop, by a throw here or a break in the reader, destroys the stream and its socket.
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (maxBytes !== undefined && size > maxBytes) throw tooLarge(maxBytes);
      yield chunk;
    }
  } catch (error) {
    throw translate(error);
  }
}

function tooLarge(maxBytes: number): OutboundError {
  return new OutboundError(OutboundErrorCode.TooLarge, `The body is larger than ${maxBytes} bytes`, false);
}

function parseUrl(input: string, base?: URL): URL {
  try {
    return new URL(input, base);
  } catch (error) {
    const what = base ? 'The redirect target' : 'The URL';
    throw new OutboundError(OutboundErrorCode.InvalidUrl, `${what} is not a valid URL`, false, { cause: error });
  }
}

function fromNetworkError(error: unknown): OutboundError {
  // axios copies the code of the socket, DNS or lookup error it wraps.
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case BLOCKED_ADDRESS_ERROR_CODE:
      // axios keeps the guard's message, which names the host and the address.
      return new OutboundError(OutboundErrorCode.BlockedAddress, (error as Error).message, false, { cause: error });
    case 'ENOTFOUND':
      return new OutboundError(OutboundErrorCode.DnsError, 'The host name does not resolve', false, { cause: error });
    case 'EAI_AGAIN':
      return new OutboundError(OutboundErrorCode.DnsError, 'DNS lookup failed temporarily', true, { cause: error });
    case 'ETIMEDOUT':
      return new OutboundError(OutboundErrorCode.Timeout, 'The connection timed out', true, { cause: error });
    default:
      // ECONNREFUSED, ECONNRESET (also "socket hang up"), EPIPE, unreachable
      // networks and bodies cut short: worth another attempt later.
      return new OutboundError(OutboundErrorCode.ConnectionError, `Connection failed (${code ?? 'unknown'})`, true, {
        cause: error,
      });
  }
}
