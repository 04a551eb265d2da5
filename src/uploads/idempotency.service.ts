import { createHash } from 'node:crypto';
import { HttpStatus, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { CreatedRequestDto } from '../requests/dto/request-status.dto.js';
import { requestLinks } from '../requests/request-links.js';
import { RequestRepository } from '../requests/request.repository.js';
import { tenantOf } from '../security/tenant.js';

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
// The IETF draft leaves the format open; printable ASCII, bounded, is what clients send (UUIDs, ULIDs).
const VALID_KEY = /^[\x21-\x7e]{1,255}$/;

/**
 * `Idempotency-Key` on upload: a client that retries after a timeout gets
 * the request it already created instead of a second one. Keys are scoped
 * per tenant, and the unique constraint on the column settles concurrent
 * retries. The same key with a different file or options is a 409.
 */
@Injectable()
export class IdempotencyService {
  constructor(private readonly requests: RequestRepository) {}

  /** The client-scoped key from the header, or null when the header is absent. */
  scopedKey(request: FastifyRequest): string | null {
    const header = request.headers[IDEMPOTENCY_KEY_HEADER];
    if (header === undefined) return null;
    const key = Array.isArray(header) ? header[0] : header;
    if (!key || !VALID_KEY.test(key)) {
      throw new AppError(
        HttpStatus.BAD_REQUEST,
        ErrorCode.InvalidIdempotencyKey,
        'Invalid Idempotency-Key',
        'An Idempotency-Key is 1 to 255 printable ASCII characters, e.g. a UUID.',
      );
    }
    // Per tenant, so a key rotation keeps replaying; '-' on an open service, which has no tenants.
    const tenant = tenantOf(request);
    return `${tenant === null ? '-' : `tenant.${tenant}`}:${key}`;
  }

  /** The request an earlier upload with this key created, or null; a 409 when that upload differed. */
  async replay(scopedKey: string, fingerprint: string): Promise<CreatedRequestDto | null> {
    const existing = await this.requests.findByIdempotencyKey(scopedKey);
    if (!existing) return null;
    if (existing.uploadFingerprint !== fingerprint) {
      throw new AppError(
        HttpStatus.CONFLICT,
        ErrorCode.IdempotencyKeyReused,
        'Idempotency-Key already used',
        'This Idempotency-Key was used for a different file or options; use a new key for a new upload.',
        { requestId: existing.id },
      );
    }
    return {
      requestId: existing.id,
      status: existing.status,
      productCount: existing.productCount,
      imageCount: existing.imageCount,
      links: requestLinks(existing.id),
    };
  }
}

/** Hash of the CSV bytes plus the options that shape the result. */
export function uploadFingerprint(csvSha256: string, options: Record<string, unknown>): string {
  return createHash('sha256').update(csvSha256).update(JSON.stringify(options)).digest('hex');
}
