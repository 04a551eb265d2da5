import { isIPv4 } from 'node:net';
import type { FastifyRequest } from 'fastify';

/** Headers a proxy adds: a request carrying one was sent on behalf of a client elsewhere. */
const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/** 127.0.0.0/8, ::1, and 127.0.0.0/8 as an IPv4-mapped IPv6 address (a dual-stack socket's view of 127.0.0.1). */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (address === undefined) return false;
  const lower = address.toLowerCase();
  if (lower === '::1') return true;
  const v4 = lower.startsWith('::ffff:') ? lower.slice('::ffff:'.length) : lower;
  return isIPv4(v4) && v4.startsWith('127.');
}

/**
 * Whether the caller is on this machine: the socket's peer is loopback and no
 * proxy forwarded the request. The peer, not `request.ip`: TRUST_PROXY decides
 * whose address the forwarding headers give, but a proxy in front, trusted or
 * not, means the client itself is elsewhere.
 */
export function isLocalClient(request: FastifyRequest): boolean {
  if (FORWARDING_HEADERS.some((name) => request.headers[name] !== undefined)) return false;
  return isLoopbackAddress(request.socket.remoteAddress);
}
