import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { Inject, Injectable } from '@nestjs/common';
import axios, { type AxiosInstance } from 'axios';
import {
  type AddressPolicy,
  BLOCKED_ADDRESS_ERROR_CODE,
  type Resolver,
  assertUrlAllowed,
  createGuardedLookup,
} from '../processing/fetch/address-guard.js';
import { ImageJobError } from '../processing/image-error.js';
import type { AttemptOutcome } from './retry-schedule.js';

export interface WebhookSenderOptions {
  /** One deadline for DNS, connect, sending the body and reading the response. */
  timeoutMs: number;
  allowPrivateNetworks: boolean;
  resolver?: Resolver;
  isAllowedAddress?: AddressPolicy;
}

export const WEBHOOK_SENDER_OPTIONS = Symbol('WEBHOOK_SENDER_OPTIONS');

export interface SentAttempt extends AttemptOutcome {
  durationMs: number;
  errorMessage: string | null;
  /** The start of the response body, decoded as UTF-8; the log needs no more. */
  responseBody: string | null;
}

/** Receivers answer with a short acknowledgement; anything past this is not read. */
export const RESPONSE_BODY_LIMIT = 4096;
const USER_AGENT = 'pixbatch-webhooks/0.1';

/**
 * POSTs one signed event. Every attempt opens a new connection (no
 * keep-alive), so the outbound guard vets the address the name resolves to
 * now, not the one a pooled socket resolved to hours ago. Never throws: the
 * outcome, failures included, is what the delivery log records.
 */
@Injectable()
export class WebhookSender {
  private readonly client: AxiosInstance;

  constructor(@Inject(WEBHOOK_SENDER_OPTIONS) private readonly options: WebhookSenderOptions) {
    const lookup = createGuardedLookup(options);
    this.client = axios.create({
      // The fetch adapter would bypass the agents and with them the address guard.
      adapter: 'http',
      httpAgent: new http.Agent({ keepAlive: false, lookup }),
      httpsAgent: new https.Agent({ keepAlive: false, lookup }),
      // An environment proxy would make the guard vet the proxy, not the receiver.
      proxy: false,
      // A receiver that redirects has not accepted the event; the target is not ours to follow.
      maxRedirects: 0,
      responseType: 'stream',
      validateStatus: null,
      headers: { 'User-Agent': USER_AGENT },
    });
  }

  async post(url: string, headers: Record<string, string>, body: string): Promise<SentAttempt> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const deadline = AbortSignal.timeout(this.options.timeoutMs);
    try {
      const target = new URL(url);
      assertUrlAllowed(target, this.options.allowPrivateNetworks, this.options.isAllowedAddress);
      const response = await this.client.post<Readable>(target.href, Buffer.from(body), {
        headers: { ...headers, 'Content-Type': 'application/json' },
        signal: deadline,
      });
      const responseBody = await readCapped(response.data);
      const { status } = response;
      const success = status >= 200 && status <= 299;
      const location = response.headers['location'];
      const retryAfter = response.headers['retry-after'];
      return {
        statusCode: status,
        errorCode: success ? null : `HTTP_${status}`,
        errorMessage: success
          ? null
          : `Receiver answered HTTP ${status}` +
            (typeof location === 'string' && status >= 300 && status <= 399 ? `; redirect to ${location} not followed` : ''),
        retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
        responseBody,
        durationMs: elapsed(),
      };
    } catch (error) {
      const { errorCode, errorMessage } = describeFailure(error, deadline.aborted, this.options.timeoutMs);
      return { statusCode: null, errorCode, errorMessage, retryAfter: null, responseBody: null, durationMs: elapsed() };
    }
  }
}

/** Reads at most RESPONSE_BODY_LIMIT bytes, then drops the connection; a body cut short by the deadline keeps what arrived. */
async function readCapped(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= RESPONSE_BODY_LIMIT) break;
    }
  } catch {
    // The status line already decided the attempt; the body is only kept for the log.
  } finally {
    stream.destroy();
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT).toString('utf8');
}

function describeFailure(error: unknown, timedOut: boolean, timeoutMs: number): { errorCode: string; errorMessage: string } {
  if (error instanceof ImageJobError) {
    // The guard's own verdict on the URL: BLOCKED_ADDRESS or INVALID_URL.
    return { errorCode: error.code, errorMessage: error.message };
  }
  if (error instanceof TypeError && (error as { code?: string }).code === 'ERR_INVALID_URL') {
    return { errorCode: 'INVALID_URL', errorMessage: 'The webhook URL is not a valid URL' };
  }
  if (timedOut) {
    return { errorCode: 'TIMEOUT', errorMessage: `No response within ${timeoutMs} ms` };
  }
  // axios copies the code of the socket, DNS or lookup error it wraps.
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case BLOCKED_ADDRESS_ERROR_CODE:
      return { errorCode: 'BLOCKED_ADDRESS', errorMessage: (error as Error).message };
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return { errorCode: 'DNS_ERROR', errorMessage: 'The host name did not resolve' };
    default:
      return { errorCode: 'CONNECTION_ERROR', errorMessage: `Connection failed (${code ?? 'unknown'})` };
  }
}
