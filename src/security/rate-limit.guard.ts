import { createHash } from 'node:crypto';
import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { AppConfig } from '../config/app-config.js';
import { API_KEY_HEADER } from './api-key.guard.js';
import { IS_PUBLIC } from '../common/public.decorator.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';

const WINDOW_MS = 60_000;

/**
 * Requests per minute per API key (or per IP without one), counted in Redis
 * so the limit holds across API instances. Uploads, which cost far more than
 * reads, also draw on a budget of their own.
 */
@Injectable()
export class RateLimitGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly limiter: RedisRateLimiter,
    private readonly config: AppConfig,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    // Probes and output images are not metered: a product page loads dozens of images at once.
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    const client = clientOf(request);
    const budgets: [string, number][] = [['all', this.config.rateLimitPerMinute]];
    if (request.method === 'POST') budgets.push(['upload', this.config.uploadRateLimitPerMinute]);
    for (const [name, limit] of budgets) {
      if (limit === 0) continue;
      const result = await this.limiter.hit(`${name}:${client}`, limit, WINDOW_MS);
      if (name === 'all') {
        void reply.header('x-ratelimit-limit', limit).header('x-ratelimit-remaining', result.remaining);
      }
      if (!result.allowed) {
        void reply.header('retry-after', result.resetSeconds);
        throw new AppError(
          HttpStatus.TOO_MANY_REQUESTS,
          ErrorCode.RateLimited,
          'Too many requests',
          `More than ${limit} ${name === 'upload' ? 'uploads' : 'requests'} per minute; retry in ${result.resetSeconds} s.`,
          { retryAfterSeconds: result.resetSeconds },
        );
      }
    }
    return true;
  }
}

function clientOf(request: FastifyRequest): string {
  const key = request.headers[API_KEY_HEADER];
  // Hashed, so keys never appear in Redis; per key, so clients behind one NAT do not share a budget.
  if (typeof key === 'string' && key) return `key:${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
  return `ip:${request.ip}`;
}
