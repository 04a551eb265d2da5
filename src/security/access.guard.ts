import { CanActivate, ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, ErrorCode } from '../common/app-error.js';
import { IS_PUBLIC } from '../common/public.decorator.js';
import { RATE_LIMIT, type RouteRateLimit } from '../common/rate-limit.decorator.js';
import { AppConfig } from '../config/app-config.js';
import { API_KEY_HEADER, ApiKeyVerifier, type Authentication } from './api-key-verifier.js';
import { isLocalClient } from './client-address.js';
import { RateLimits, type RateLimitName } from './rate-limits.js';
import { attachTenant } from './tenant.js';

/**
 * Who may call a route that is not public, in the order that decides it:
 * 1. protected mode (no API_KEYS, PROTECTED_MODE not off): callers beyond
 *    this machine get 403 before anything is counted or looked up;
 * 2. the API key, when keys are configured, names the tenant;
 * 3. rate limits: a tenant's budgets for a valid key, the client address's
 *    for everything else, so a burst of wrong keys meets 429 like any other
 *    burst, and guessing keys is throttled;
 * 4. a missing or wrong key is refused with 401 once it has been counted.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly config: AppConfig,
    private readonly apiKeys: ApiKeyVerifier,
    private readonly rateLimits: RateLimits,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    // Probes, metrics and output images are neither guarded nor metered: a product page loads dozens of images at once.
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, targets)) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const reply = context.switchToHttp().getResponse<FastifyReply>();
    if (this.config.accessMode === 'protected' && !isLocalClient(request)) throw protectedModeRefusal();
    const authentication: Authentication | null =
      this.config.accessMode === 'keys' ? this.apiKeys.authenticate(request) : null;
    if (authentication !== null && 'refusal' in authentication) {
      await this.rateLimits.consume({ address: request.ip }, ['requests'], reply);
      throw authentication.refusal;
    }
    const routeLimit = this.reflector.getAllAndOverride<RouteRateLimit | undefined>(RATE_LIMIT, targets);
    const budgets: RateLimitName[] = routeLimit ? ['requests', routeLimit] : ['requests'];
    await this.rateLimits.consume(authentication ?? { address: request.ip }, budgets, reply);
    if (authentication !== null) attachTenant(request, authentication.tenant);
    return true;
  }
}

function protectedModeRefusal(): AppError {
  return new AppError(
    HttpStatus.FORBIDDEN,
    ErrorCode.ProtectedMode,
    'Protected mode',
    'This server has no API keys, so it serves its API only to clients on its own machine (loopback), and a ' +
      'request forwarded by a proxy counts as coming from elsewhere. To use it from other machines, start it with ' +
      `API_KEYS set (for example API_KEYS=alice:<a long random key>) and send a key in the ${API_KEY_HEADER} header; ` +
      'or, on a network where everyone who can reach it may use it, start it with PROTECTED_MODE=off.',
  );
}
