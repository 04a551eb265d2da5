import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { requestNotFound } from '../common/app-error.js';
import { isRequestId } from '../common/parse-request-id.pipe.js';
import { IS_PUBLIC } from '../common/public.decorator.js';
import { RequestOwners } from './request-owners.js';
import { tenantOf } from './tenant.js';

/**
 * Tenant isolation for every route that names a request, in one place rather
 * than in each handler: a path parameter `id` (`/api/v1/requests/:id/…`,
 * `/status/:id`, `/export/:id`) or the original design's `?request_id=`
 * always identifies a request in this API. Another tenant's request answers
 * exactly like a missing one, 404, so ids cannot be probed. A malformed id is
 * left to the route's pipe (400); without API keys everyone sees everything.
 */
@Injectable()
export class RequestOwnerGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly requests: RequestOwners,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const tenant = tenantOf(request);
    if (tenant === null) return true;
    const params = request.params as Record<string, unknown> | undefined;
    const query = request.query as Record<string, unknown> | undefined;
    const id = params?.id ?? query?.request_id;
    if (!isRequestId(id)) return true;
    const owner = await this.requests.ownerOf(id.toLowerCase());
    if (owner !== null && owner !== tenant) throw requestNotFound(id.toLowerCase());
    return true;
  }
}
