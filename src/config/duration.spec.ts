import { randomBytes } from 'node:crypto';
import { ConfigValidationError, loadConfig } from './app-config.js';
import { parseDuration, parseDurationList } from './duration.js';

describe('parseDuration', () => {
  it.each([
    ['250ms', 250],
    ['5s', 5000],
    ['1.5s', 1500],
    ['30m', 1_800_000],
    ['2h', 7_200_000],
    ['1d', 86_400_000],
  ])('%s is %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(['', '5', 'five s', '-5s', '5 years', '5sec'])('refuses %p', (text) => {
    expect(parseDuration(text)).toBeNull();
  });

  it('reads a list, or nothing if any item is bad', () => {
    expect(parseDurationList('5s, 5m,30m')).toEqual([5000, 300_000, 1_800_000]);
    expect(parseDurationList('5s,,5m')).toBeNull();
  });
});

describe('webhook configuration', () => {
  const key = () => `whsec_${randomBytes(32).toString('base64')}`;

  it('defaults to a 15 s timeout and the Svix schedule, with webhooks off until a secret is set', () => {
    const config = loadConfig({});
    expect(config.webhooks).toEqual({
      signingSecrets: [],
      timeoutMs: 15_000,
      retryDelaysMs: [5000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
      sweepIntervalMs: 30_000,
    });
  });

  it('accepts two keys separated by a space during a rotation', () => {
    const [oldKey, newKey] = [key(), key()];
    expect(loadConfig({ WEBHOOK_SIGNING_SECRET: ` ${oldKey}  ${newKey} ` }).webhooks.signingSecrets).toEqual([
      oldKey,
      newKey,
    ]);
  });

  it.each([
    ['no whsec_ prefix', randomBytes(32).toString('base64')],
    ['a key too short to be safe', `whsec_${randomBytes(8).toString('base64')}`],
    ['not base64', 'whsec_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!'],
    ['three keys', `${key()} ${key()} ${key()}`],
  ])('fails at boot on a secret with %s, naming the variable', (_case, secret) => {
    expect(() => loadConfig({ WEBHOOK_SIGNING_SECRET: secret })).toThrow(ConfigValidationError);
    expect(() => loadConfig({ WEBHOOK_SIGNING_SECRET: secret })).toThrow(/WEBHOOK_SIGNING_SECRET/);
  });

  it('fails at boot on a malformed retry schedule', () => {
    expect(() => loadConfig({ WEBHOOK_RETRY_DELAYS: '5s,soon' })).toThrow(/WEBHOOK_RETRY_DELAYS/);
  });
});
