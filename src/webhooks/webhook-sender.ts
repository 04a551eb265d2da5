import { Inject, Injectable } from '@nestjs/common';
import type { AddressPolicy, Resolver } from '../common/outbound/address-guard.js';
import { OutboundError, OutboundErrorCode } from '../common/outbound/outbound-error.js';
import { OutboundHttpClient } from '../common/outbound/outbound-http-client.js';
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
 * now, not the one a pooled socket resolved to hours ago. Failures of the
 * exchange are returned, not thrown: the outcome is what the delivery log records.
 */
@Injectable()
export class WebhookSender {
  private readonly client: OutboundHttpClient;

  constructor(@Inject(WEBHOOK_SENDER_OPTIONS) private readonly options: WebhookSenderOptions) {
    this.client = new OutboundHttpClient({
      allowPrivateNetworks: options.allowPrivateNetworks,
      resolver: options.resolver,
      isAllowedAddress: options.isAllowedAddress,
      keepAlive: false,
      headers: { 'User-Agent': USER_AGENT },
    });
  }

  async post(url: string, headers: Record<string, string>, body: string): Promise<SentAttempt> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    try {
      return await this.client.exchange(
        {
          method: 'POST',
          url,
          headers: { ...headers, 'Content-Type': 'application/json' },
          body: Buffer.from(body),
          timeoutMs: this.options.timeoutMs,
          // A receiver that redirects has not accepted the event; the target is not ours to follow.
          redirects: 'none',
          // Every status is an outcome the log records, with the receiver's answer.
          rejectUnsuccessful: false,
        },
        async (response) => {
          const responseBody = await readCapped(response.body);
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
                (typeof location === 'string' && status >= 300 && status <= 399
                  ? `; redirect to ${location} not followed`
                  : ''),
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
            responseBody,
            durationMs: elapsed(),
          };
        },
      );
    } catch (error) {
      const { errorCode, errorMessage } = describeFailure(error, this.options.timeoutMs);
      return { statusCode: null, errorCode, errorMessage, retryAfter: null, responseBody: null, durationMs: elapsed() };
    }
  }
}

/** Reads at most RESPONSE_BODY_LIMIT bytes, then drops the connection; a body cut short by the deadline keeps what arrived. */
async function readCapped(body: AsyncIterable<Buffer>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= RESPONSE_BODY_LIMIT) break;
    }
  } catch {
    // The status line already decided the attempt; the body is only kept for the log.
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_BODY_LIMIT).toString('utf8');
}

/**
 * The delivery log's wording for a failed attempt. The codes are the outbound
 * client's, except the timeout, which the log and the retry schedule have
 * always called TIMEOUT.
 */
function describeFailure(error: unknown, timeoutMs: number): { errorCode: string; errorMessage: string } {
  // The client reports every network failure as an OutboundError; anything else is a bug, not an outcome.
  if (!(error instanceof OutboundError)) throw error;
  switch (error.code) {
    case OutboundErrorCode.Timeout:
      return { errorCode: 'TIMEOUT', errorMessage: `No response within ${timeoutMs} ms` };
    case OutboundErrorCode.DnsError:
      return { errorCode: error.code, errorMessage: 'The host name did not resolve' };
    default:
      return { errorCode: error.code, errorMessage: error.message };
  }
}
