import { HttpStatus, Injectable } from '@nestjs/common';
import { AppError, ErrorCode } from '../common/app-error.js';
import { AppConfig } from '../config/app-config.js';
import { BlockedAddressError, assertUrlAllowed, createGuardedLookup } from '../common/outbound/address-guard.js';
import { OutboundError, OutboundErrorCode } from '../common/outbound/outbound-error.js';
import { WEBHOOK_EVENT_TYPES, WebhookEventType } from '../requests/request-events.js';
import { WebhookSigner } from './webhook-signer.js';

export const WEBHOOK_URL_MAX_LENGTH = 2048;
// A registration waits this long for DNS before giving the benefit of the doubt;
// every attempt checks the resolved address again anyway.
const RESOLVE_TIMEOUT_MS = 3000;

export interface WebhookRegistration {
  url: string;
  /** Null: the default, every terminal event. */
  events: WebhookEventType[] | null;
}

/**
 * Vets the webhook fields of an upload before anything is stored: the URL's
 * form, then its target through the same outbound guard the deliveries use.
 * Every refusal is a 422 with its own code, except a server that cannot
 * sign (503): that is not the client's mistake.
 */
@Injectable()
export class WebhookRegistrar {
  private readonly lookup: ReturnType<typeof createGuardedLookup>;

  constructor(
    private readonly config: AppConfig,
    private readonly signer: WebhookSigner,
  ) {
    this.lookup = createGuardedLookup({ allowPrivateNetworks: config.allowPrivateNetworks });
  }

  async register(rawUrl: string | undefined, rawEvents: string | undefined): Promise<WebhookRegistration | null> {
    if (rawUrl === undefined) {
      if (rawEvents !== undefined) {
        throw invalidEvents('webhookEvents was sent without a webhookUrl to deliver them to.');
      }
      return null;
    }
    // The client's own mistakes first, then the server's configuration, then the (slower) DNS check.
    const url = parseWebhookUrl(rawUrl);
    const events = rawEvents === undefined ? null : parseEvents(rawEvents);
    if (!this.signer.configured) {
      throw new AppError(
        HttpStatus.SERVICE_UNAVAILABLE,
        ErrorCode.WebhooksNotConfigured,
        'Webhooks are not configured',
        'This server has no WEBHOOK_SIGNING_SECRET, so it cannot sign webhook events; upload without webhookUrl or ask the operator to set it.',
      );
    }
    await this.assertTargetAllowed(url);
    return { url: url.href, events };
  }

  private async assertTargetAllowed(url: URL): Promise<void> {
    try {
      assertUrlAllowed(url, this.config.allowPrivateNetworks);
    } catch (error) {
      if (error instanceof OutboundError && error.code === OutboundErrorCode.BlockedAddress)
        throw blocked(error.message);
      throw error;
    }
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    try {
      await this.resolve(host);
    } catch (error) {
      if (error instanceof BlockedAddressError) throw blocked(error.message);
      if ((error as NodeJS.ErrnoException).code === 'ENOTFOUND') {
        throw invalidUrl(`The host ${host} does not resolve.`);
      }
      // A slow or failing resolver says nothing about the target; the attempt-time check still applies.
    }
  }

  private resolve(host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, RESOLVE_TIMEOUT_MS);
      this.lookup(host, { all: true }, (error) => {
        clearTimeout(timer);
        if (error) reject(error);
        else resolve();
      });
    });
  }
}

function parseWebhookUrl(raw: string): URL {
  if (raw.length > WEBHOOK_URL_MAX_LENGTH) {
    throw invalidUrl(`webhookUrl is longer than ${WEBHOOK_URL_MAX_LENGTH} characters.`);
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalidUrl('webhookUrl is not an absolute URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw invalidUrl(`webhookUrl must use http or https, not ${url.protocol.slice(0, -1)}.`);
  }
  if (url.username !== '' || url.password !== '') {
    // They would sit in our database and delivery logs in clear text; receivers authenticate us by the signature.
    throw invalidUrl('webhookUrl must not contain credentials; verify the webhook-signature header instead.');
  }
  return url;
}

function parseEvents(raw: string): WebhookEventType[] {
  const names = [...new Set(raw.split(/[\s,]+/).filter(Boolean))];
  const unknown = names.filter((name) => !WEBHOOK_EVENT_TYPES.includes(name as WebhookEventType));
  if (names.length === 0 || unknown.length > 0) {
    throw invalidEvents(
      `${unknown.length > 0 ? `Unknown event type(s): ${unknown.join(', ')}. ` : 'No event type given. '}` +
        `Known: ${WEBHOOK_EVENT_TYPES.join(', ')}.`,
    );
  }
  return names as WebhookEventType[];
}

function invalidUrl(detail: string): AppError {
  return new AppError(HttpStatus.UNPROCESSABLE_ENTITY, ErrorCode.WebhookUrlInvalid, 'Invalid webhook URL', detail, {
    field: 'webhookUrl',
  });
}

function blocked(detail: string): AppError {
  return new AppError(
    HttpStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.WebhookUrlBlocked,
    'Webhook URL not allowed',
    `${detail}; webhooks are only sent to public addresses.`,
    { field: 'webhookUrl' },
  );
}

function invalidEvents(detail: string): AppError {
  return new AppError(
    HttpStatus.UNPROCESSABLE_ENTITY,
    ErrorCode.WebhookEventsInvalid,
    'Invalid webhook events',
    detail,
    {
      field: 'webhookEvents',
    },
  );
}
