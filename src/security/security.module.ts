import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AppConfig } from '../config/app-config.js';
import { AccessController } from './access.controller.js';
import { AccessGuard } from './access.guard.js';
import { ApiKeyVerifier } from './api-key-verifier.js';
import { RateLimits } from './rate-limits.js';
import { RedisRateLimiter } from './redis-rate-limiter.js';
import { RequestOwnerGuard } from './request-owner.guard.js';

/**
 * Access first (protected mode, API keys and rate limits, see AccessGuard),
 * then tenant isolation, so probing other tenants' ids costs budget too; and
 * GET /api/v1/access, which says how callers are admitted.
 */
@Module({
  controllers: [AccessController],
  providers: [
    {
      provide: RedisRateLimiter,
      inject: [AppConfig],
      useFactory: (config: AppConfig) => new RedisRateLimiter(config.redisUrl, `${config.queuePrefix}:ratelimit:`),
    },
    ApiKeyVerifier,
    RateLimits,
    { provide: APP_GUARD, useClass: AccessGuard },
    { provide: APP_GUARD, useClass: RequestOwnerGuard },
  ],
})
export class SecurityModule {
  /**
   * `owners` exports RequestOwners, the port the tenant guard asks: the
   * composition root passes RequestsModule, which security/ may not import
   * (requests/ imports security/).
   */
  static withOwners(owners: DynamicModule): DynamicModule {
    return { module: SecurityModule, imports: [owners] };
  }
}
