import { createHash, timingSafeEqual } from 'node:crypto';
import { HttpStatus, Injectable } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { AppConfig } from '../config/app-config.js';

export const API_KEY_HEADER = 'x-api-key';

const digest = (key: string) => createHash('sha256').update(key).digest();

/** A caller's key checked against API_KEYS: its tenant, or why it was refused. */
export type Authentication = { tenant: string } | { refusal: AppError };

/** Which tenant, if any, the `x-api-key` header of a request belongs to. */
@Injectable()
export class ApiKeyVerifier {
  private readonly keys: { digest: Buffer; tenant: string }[];

  constructor(config: AppConfig) {
    this.keys = [...config.apiKeys].map(([key, tenant]) => ({ digest: digest(key), tenant }));
  }

  authenticate(request: FastifyRequest): Authentication {
    const header = request.headers[API_KEY_HEADER];
    const presented = Array.isArray(header) ? header[0] : header;
    if (!presented) {
      return {
        refusal: new AppError(
          HttpStatus.UNAUTHORIZED,
          ErrorCode.ApiKeyMissing,
          'API key required',
          `Send an API key in the ${API_KEY_HEADER} header.`,
        ),
      };
    }
    // Comparing fixed-length digests in constant time, against every key,
    // reveals neither the keys, their lengths nor which one matched.
    const candidate = digest(presented);
    let tenant: string | undefined;
    for (const known of this.keys) {
      if (timingSafeEqual(known.digest, candidate)) tenant = known.tenant;
    }
    if (tenant === undefined) {
      return {
        refusal: new AppError(
          HttpStatus.UNAUTHORIZED,
          ErrorCode.ApiKeyInvalid,
          'Invalid API key',
          'The API key is not valid.',
        ),
      };
    }
    return { tenant };
  }
}
