import { createHash, timingSafeEqual } from 'node:crypto';
import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { AppConfig } from '../config/app-config.js';
import { IS_PUBLIC } from './public.decorator.js';

export const API_KEY_HEADER = 'x-api-key';

const digest = (key: string) => createHash('sha256').update(key).digest();

/** With API_KEYS set, every non-public route needs one of them in the `x-api-key` header. */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly digests: Buffer[];

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
  ) {
    this.digests = config.apiKeys.map(digest);
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.digests.length === 0) return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers[API_KEY_HEADER];
    const presented = Array.isArray(header) ? header[0] : header;
    if (!presented) {
      throw new AppError(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.ApiKeyMissing,
        'API key required',
        `Send an API key in the ${API_KEY_HEADER} header.`,
      );
    }
    // Comparing fixed-length digests in constant time reveals neither the keys nor their lengths.
    const candidate = digest(presented);
    if (!this.digests.some((known) => timingSafeEqual(known, candidate))) {
      throw new AppError(HttpStatus.UNAUTHORIZED, ErrorCode.ApiKeyInvalid, 'Invalid API key', 'The API key is not valid.');
    }
    return true;
  }
}
