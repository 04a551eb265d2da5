import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from './app-error.js';
import { PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_BASE } from './problem-details.filter.js';

/**
 * Answers for what Fastify and Node reject before any route or Nest filter
 * runs: a path parameter over the router's limit (414), a malformed URL (400),
 * and headers over Node's limit (431). Their default bodies are plain JSON that
 * repeat the offending input; these are problem documents like every other error.
 */
function problemBody(status: number, code: ErrorCode, detail: string, instance?: string): string {
  return JSON.stringify({
    type: PROBLEM_TYPE_BASE + code.toLowerCase().replaceAll('_', '-'),
    title: STATUS_CODES[status] ?? 'Error',
    status,
    code,
    detail,
    ...(instance ? { instance } : {}),
  });
}

/** Fastify's `frameworkErrors`: errors raised while routing, with a reply to answer through. */
export function onFrameworkError(
  error: Error & { code?: string },
  _request: FastifyRequest,
  reply: FastifyReply,
): void {
  const [status, code, detail] =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? [414, ErrorCode.UriTooLong, 'A path segment is longer than the server accepts (100 characters).']
      : [400, ErrorCode.BadRequest, 'The URL could not be decoded.'];
  void reply
    .status(status)
    .header('content-type', PROBLEM_CONTENT_TYPE)
    .send(problemBody(status, code, detail));
}

/** Fastify's `clientErrorHandler`: the HTTP parser refused the request, so only the socket is left. */
export function onClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, detail] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, ErrorCode.HeadersTooLarge, 'The request line and headers together exceed 16 KB.']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, ErrorCode.RequestTimeout, 'The request did not arrive in time.']
        : [400, ErrorCode.BadRequest, 'The request is not valid HTTP.'];
  if (!socket.writable) {
    socket.destroy(error);
    return;
  }
  const body = problemBody(status, code, detail);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
