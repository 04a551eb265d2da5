import type { createHash } from 'node:crypto';
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { AppError } from '../common/app-error.js';

/*
 * The upload's body as streams: its multipart parts, the CSV part's bytes, a
 * read that ends when the upload's deadline passes, and a hash taken on the way.
 * busboy's own errors become MalformedMultipartError here, so that the intake
 * can tell a client's broken body from a fault of ours.
 */

/** busboy's complaint about the body's framing (boundary, part headers, early end): the client's fault, not ours. */
export class MalformedMultipartError extends Error {}

/**
 * Fastify's multipart errors carry a status and an FST_ code; anything else
 * thrown while the body is being split into parts comes from busboy, i.e. from
 * a body that is not well-formed multipart (no boundary, a wrong one, no end).
 */
function asMultipartError(error: unknown): unknown {
  if (error instanceof AppError || typeof (error as { statusCode?: unknown })?.statusCode === 'number') return error;
  return new MalformedMultipartError(error instanceof Error ? error.message : String(error));
}

export async function* multipartParts(request: FastifyRequest): AsyncGenerator<Multipart> {
  let iterator: AsyncIterator<Multipart>;
  try {
    iterator = request.parts()[Symbol.asyncIterator]();
  } catch (error) {
    throw asMultipartError(error);
  }
  for (;;) {
    let next: IteratorResult<Multipart>;
    try {
      next = await iterator.next();
    } catch (error) {
      throw asMultipartError(error);
    }
    if (next.done) return;
    yield next.value;
  }
}

export async function* multipartStream(file: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* file;
  } catch (error) {
    throw asMultipartError(error);
  }
}

/**
 * Ends the read with the signal's reason as soon as it is aborted, even while
 * the client sends nothing at all.
 */
export async function* untilAborted<T>(source: AsyncIterable<T>, signal: AbortSignal): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const aborted = new Promise<never>((_, reject) => {
    if (signal.aborted) reject(signal.reason as Error);
    signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
  });
  aborted.catch(() => {});
  try {
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next.done) return;
      yield next.value;
    }
  } finally {
    // Not awaited: after an abort the source may still be waiting for a chunk that never comes.
    void iterator.return?.()?.catch(() => {});
  }
}

/**
 * Aborted when the client closes the connection before its body has ended.
 * The multipart reader is fed by piping the request into busboy, and a pipe
 * passes on neither the close nor an error: without this, the read of a body
 * cut short waited forever, holding the upload's transaction until its
 * deadline and logging nothing.
 */
export function clientGone(request: FastifyRequest): AbortSignal {
  const gone = new AbortController();
  request.raw.once('close', () => {
    if (!request.raw.complete) {
      gone.abort(new MalformedMultipartError('the client closed the connection before the body ended'));
    }
  });
  return gone.signal;
}

/** Passes the upload through unchanged while hashing it, so the file is read once. */
export async function* hashing(
  source: AsyncIterable<Buffer>,
  hash: ReturnType<typeof createHash>,
): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    hash.update(chunk);
    yield chunk;
  }
}
