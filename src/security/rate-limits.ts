import { HttpStatus, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import type { RouteRateLimit } from '../common/rate-limit.decorator.js';
import { AppConfig } from '../config/app-config.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';

const WINDOW_MS = 60_000;

export type RateLimitName = 'requests' | RouteRateLimit;

/** How a 429 names each budget, and the setting that sizes it. */
const BUDGETS: Record<RateLimitName, { noun: string; setting: string }> = {
  requests: { noun: 'requests', setting: 'RATE_LIMIT_PER_MINUTE' },
  uploads: { noun: 'uploads', setting: 'UPLOAD_RATE_LIMIT_PER_MINUTE' },
  writes: { noun: 'writes (cancel, retry, delete, redeliver)', setting: 'WRITE_RATE_LIMIT_PER_MINUTE' },
};

/**
 * Whose budget a call draws on: a tenant's, once its key is verified, or the
 * client address's for everyone else (no keys configured, no key, a wrong
 * key). Never the key as sent: any text in `x-api-key` would mint a budget.
 */
export type RateLimitSubject = { tenant: string } | { address: string };

/**
 * Per-minute budgets, counted in Redis so they hold across API instances.
 * Answers carry X-RateLimit-Limit and -Remaining of the budget closest to
 * running out (the route's own on a tie); a 429 carries those of the budget it hit, Retry-After, and
 * that budget's name in `rateLimit`.
 */
@Injectable()
export class RateLimits {
  constructor(
    private readonly limiter: RedisRateLimiter,
    private readonly config: AppConfig,
  ) {}

  async consume(subject: RateLimitSubject, names: readonly RateLimitName[], reply: FastifyReply): Promise<void> {
    const owner = 'tenant' in subject ? `tenant:${subject.tenant}` : `ip:${subject.address}`;
    let tightest: { limit: number; remaining: number } | undefined;
    for (const name of names) {
      const limit = this.config.rateLimits[name];
      if (limit === 0) continue;
      const result = await this.limiter.hit(`${name}:${owner}`, limit, WINDOW_MS);
      if (!result.allowed) {
        void reply
          .header('x-ratelimit-limit', limit)
          .header('x-ratelimit-remaining', 0)
          .header('retry-after', result.resetSeconds);
        const { noun, setting } = BUDGETS[name];
        throw new AppError(
          HttpStatus.TOO_MANY_REQUESTS,
          ErrorCode.RateLimited,
          `Too many ${name}`,
          `More than ${limit} ${noun} per minute (${setting}); retry in ${result.resetSeconds} s.`,
          { rateLimit: name, retryAfterSeconds: result.resetSeconds },
        );
      }
      if (tightest === undefined || result.remaining <= tightest.remaining) tightest = { limit, ...result };
    }
    if (tightest) {
      void reply.header('x-ratelimit-limit', tightest.limit).header('x-ratelimit-remaining', tightest.remaining);
    }
  }
}
