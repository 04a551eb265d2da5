import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { FastifyRequest } from 'fastify';
import { DEFAULT_TENANT } from '../config/api-keys.js';

const tenants = new WeakMap<FastifyRequest, string>();

/** Set by AccessGuard once the key is known. */
export function attachTenant(request: FastifyRequest, tenant: string): void {
  tenants.set(request, tenant);
}

/**
 * Whose requests the caller may see: its key's tenant, or null when API keys
 * are off and the service is open, so every caller sees every request.
 */
export function tenantOf(request: FastifyRequest): string | null {
  return tenants.get(request) ?? null;
}

/** The tenant a new request belongs to: the caller's, or the default one on an open service. */
export function owningTenantOf(request: FastifyRequest): string {
  return tenantOf(request) ?? DEFAULT_TENANT;
}

/** Injects `tenantOf(request)` into a handler parameter. */
export const CallerTenant = createParamDecorator((_: unknown, context: ExecutionContext) =>
  tenantOf(context.switchToHttp().getRequest<FastifyRequest>()),
);
