import { hostAndPort, retryAfterMs } from './retry-after.js';

describe('retryAfterMs', () => {
  const now = Date.parse('2026-12-06T12:00:00Z');

  it('reads seconds and HTTP dates, a past date as now', () => {
    expect(retryAfterMs('8', now)).toBe(8000);
    expect(retryAfterMs(' 120 ', now)).toBe(120_000);
    expect(retryAfterMs('Sun, 06 Dec 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs('Sun, 06 Dec 2026 11:00:00 GMT', now)).toBe(0);
  });

  it('ignores a missing or unreadable header', () => {
    for (const header of [undefined, '', 'soon', '-5', '1.5', ['8']]) expect(retryAfterMs(header, now)).toBeNull();
  });
});

describe('hostAndPort', () => {
  it('writes the default port of the scheme, and keeps an explicit one', () => {
    expect(hostAndPort(new URL('https://CDN.Example.com/a.jpg'))).toBe('cdn.example.com:443');
    expect(hostAndPort(new URL('http://cdn.example.com/a.jpg'))).toBe('cdn.example.com:80');
    expect(hostAndPort(new URL('http://127.0.0.2:8080/a.jpg'))).toBe('127.0.0.2:8080');
    expect(hostAndPort(new URL('http://[::1]/a.jpg'))).toBe('[::1]:80');
  });
});
