import { randomBytes } from 'node:crypto';
import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { WebhookSigner } from './webhook-signer.js';

const newSecret = () => `whsec_${randomBytes(32).toString('base64')}`;
const BODY = JSON.stringify({ type: 'request.completed', data: { requestId: 'r1', note: 'café ✓' } });

describe('WebhookSigner', () => {
  const secret = newSecret();
  const signer = new WebhookSigner([secret]);

  it('produces headers the standardwebhooks verifier accepts', () => {
    const headers = signer.sign('msg_1', new Date(), BODY);
    expect(headers['webhook-id']).toBe('msg_1');
    expect(headers['webhook-timestamp']).toMatch(/^\d+$/);
    expect(headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
    expect(new Webhook(secret).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
  });

  it('is rejected for a tampered body, id or timestamp', () => {
    const headers = signer.sign('msg_2', new Date(), BODY);
    const verifier = new Webhook(secret);
    expect(() => verifier.verify(BODY.replace('r1', 'r2'), { ...headers })).toThrow(WebhookVerificationError);
    expect(() => verifier.verify(BODY, { ...headers, 'webhook-id': 'msg_3' })).toThrow(WebhookVerificationError);
    const later = String(Number(headers['webhook-timestamp']) + 1);
    expect(() => verifier.verify(BODY, { ...headers, 'webhook-timestamp': later })).toThrow(WebhookVerificationError);
  });

  it('is rejected by a receiver holding another secret', () => {
    const headers = signer.sign('msg_4', new Date(), BODY);
    expect(() => new Webhook(newSecret()).verify(BODY, { ...headers })).toThrow(WebhookVerificationError);
  });

  it('signs with both keys during a rotation, so either key verifies', () => {
    const [oldKey, newKey] = [newSecret(), newSecret()];
    const headers = new WebhookSigner([oldKey, newKey]).sign('msg_5', new Date(), BODY);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(oldKey).verify(BODY, { ...headers })).toBeTruthy();
    expect(new Webhook(newKey).verify(BODY, { ...headers })).toBeTruthy();
  });

  it('gives a new signature for a new timestamp of the same message', () => {
    const first = signer.sign('msg_6', new Date('2026-11-21T10:00:00Z'), BODY);
    const second = signer.sign('msg_6', new Date('2026-11-21T10:00:05Z'), BODY);
    expect(second['webhook-signature']).not.toBe(first['webhook-signature']);
  });

  it('refuses to sign without a secret rather than send an unsigned event', () => {
    const unsigned = new WebhookSigner([]);
    expect(unsigned.configured).toBe(false);
    expect(() => unsigned.sign('msg_7', new Date(), BODY)).toThrow('WEBHOOK_SIGNING_SECRET');
  });
});
