import { Webhook } from 'standardwebhooks';

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * Standard Webhooks signing through the reference library. With two keys
 * (a rotation in progress) every message carries both signatures, so
 * receivers holding either the old or the new key accept it.
 */
export class WebhookSigner {
  private readonly keys: Webhook[];

  constructor(secrets: readonly string[]) {
    this.keys = secrets.map((secret) => new Webhook(secret));
  }

  /** False when no secret is configured: then nothing is sent, since an unsigned event cannot be trusted. */
  get configured(): boolean {
    return this.keys.length > 0;
  }

  sign(eventId: string, at: Date, body: string): SignedHeaders {
    if (!this.configured) throw new Error('WEBHOOK_SIGNING_SECRET is not set');
    return {
      'webhook-id': eventId,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': this.keys.map((key) => key.sign(eventId, at, body)).join(' '),
    };
  }
}
