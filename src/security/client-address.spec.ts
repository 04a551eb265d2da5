import type { FastifyRequest } from 'fastify';
import { isLocalClient, isLoopbackAddress } from './client-address.js';

const request = (remoteAddress: string | undefined, headers: Record<string, string> = {}) =>
  ({ socket: { remoteAddress }, headers }) as unknown as FastifyRequest;

describe('isLoopbackAddress', () => {
  it.each(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '::FFFF:127.0.0.2'])('%s is loopback', (address) => {
    expect(isLoopbackAddress(address)).toBe(true);
  });

  it.each(['10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', '0.0.0.0', '127.0.0', 'localhost', '', undefined])(
    '%s is not',
    (address) => {
      expect(isLoopbackAddress(address)).toBe(false);
    },
  );
});

describe('isLocalClient', () => {
  it('is a loopback peer that no proxy forwarded', () => {
    expect(isLocalClient(request('127.0.0.1'))).toBe(true);
    expect(isLocalClient(request('192.0.2.1'))).toBe(false);
    expect(isLocalClient(request(undefined))).toBe(false);
  });

  it.each(['forwarded', 'x-forwarded-for', 'x-real-ip'])('counts a request carrying %s as remote', (header) => {
    expect(isLocalClient(request('127.0.0.1', { [header]: '127.0.0.1' }))).toBe(false);
  });
});
