import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AppConfig } from '../config/app-config.js';
import { ApiKeyGuard } from './api-key.guard.js';
import { RateLimitGuard } from './rate-limit.guard.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';
import { RequestOwnerGuard } from './request-owner.guard.js';

/**
 * API keys first (an unknown client is refused before it spends anyone's
 * budget), then rate limits (so probing other tenants' ids costs budget too),
 * then tenant isolation.
 */
@Module({
  providers: [
    {
      provide: RedisRateLimiter,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new RedisRateLimiter(config.redisUrl, `${config.queuePrefix}:ratelimit:`),
    },
    { provide: APP_GUARD, useClass: ApiKeyGuard },
    { provide: APP_GUARD, useClass: RateLimitGuard },
    { provide: APP_GUARD, useClass: RequestOwnerGuard },
  ],
})
export class SecurityModule {}
