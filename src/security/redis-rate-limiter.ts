import { Logger, OnModuleDestroy } from '@nestjs/common';
import { Redis } from 'ioredis';

export interface RateLimitResult {
  allowed: boolean;
  remaining: number;
  /** Seconds until the window resets. */
  resetSeconds: number;
}

// A fixed window per key: the first hit starts the window, later hits count
// in it. One atomic script, so every API instance shares the same counters.
// Defined as a command, it is sent by its SHA (EVALSHA), not as text with
// every API call (ioredis sends the text once if Redis has not seen it).
const HIT = `
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { hits, redis.call('PTTL', KEYS[1]) }
`;

type WithHit = Redis & { rateLimitHit(key: string, windowMs: number): Promise<[number, number]> };

/**
 * Rate-limit counters in Redis. When Redis does not answer, requests are let
 * through (and logged): losing the limiter for a moment is better than
 * refusing every client while the queue is down anyway.
 */
export class RedisRateLimiter implements OnModuleDestroy {
  private readonly logger = new Logger(RedisRateLimiter.name);
  private readonly redis: Redis;

  constructor(redisUrl: string, keyPrefix: string) {
    this.redis = new Redis(redisUrl, {
      keyPrefix,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: 1000,
    });
    this.redis.on('error', () => undefined);
    this.redis.defineCommand('rateLimitHit', { numberOfKeys: 1, lua: HIT });
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateLimitResult> {
    try {
      if (this.redis.status === 'wait') await this.redis.connect();
      const [hits, remainingMs] = await (this.redis as WithHit).rateLimitHit(key, windowMs);
      return {
        allowed: hits <= limit,
        remaining: Math.max(0, limit - hits),
        resetSeconds: Math.max(1, Math.ceil(remainingMs / 1000)),
      };
    } catch (error) {
      this.logger.warn(`Rate limiter unavailable, request allowed: ${(error as Error).message}`);
      return { allowed: true, remaining: limit, resetSeconds: Math.ceil(windowMs / 1000) };
    }
  }

  onModuleDestroy(): void {
    this.redis.disconnect();
  }
}
