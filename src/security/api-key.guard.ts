import { createHash, timingSafeEqual } from 'node:crypto';
import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { AppConfig } from '../config/app-config.js';
import { IS_PUBLIC } from '../common/public.decorator.js';
import { attachTenant } from './tenant.js';

export const API_KEY_HEADER = 'x-api-key';

const digest = (key: string) => createHash('sha256').update(key).digest();

/**
 * With API_KEYS set, every non-public route needs one of them in the
 * `x-api-key` header, and the request carries the key's tenant from then on.
 */
@Injectable()
export class ApiKeyGuard implements CanActivate {
  private readonly keys: { digest: Buffer; tenant: string }[];

  constructor(
    private readonly reflector: Reflector,
    config: AppConfig,
  ) {
    this.keys = [...config.apiKeys].map(([key, tenant]) => ({ digest: digest(key), tenant }));
  }

  canActivate(context: ExecutionContext): boolean {
    if (this.keys.length === 0) return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = request.headers[API_KEY_HEADER];
    const presented = Array.isArray(header) ? header[0] : header;
    if (!presented) {
      throw new AppError(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.ApiKeyMissing,
        'API key required',
        `Send an API key in the ${API_KEY_HEADER} header.`,
      );
    }
    // Comparing fixed-length digests in constant time, against every key,
    // reveals neither the keys, their lengths nor which one matched.
    const candidate = digest(presented);
    let tenant: string | undefined;
    for (const known of this.keys) {
      if (timingSafeEqual(known.digest, candidate)) tenant = known.tenant;
    }
    if (tenant === undefined) {
      throw new AppError(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.ApiKeyInvalid,
        'Invalid API key',
        'The API key is not valid.',
      );
    }
    attachTenant(request, tenant);
    return true;
  }
}
