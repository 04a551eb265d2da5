import { ApiOperation } from '@nestjs/swagger';

/**
 * The operation of a route kept from the original design as an alias of a v1
 * route: deprecated, and saying which route it repeats. The responses are the
 * v1 route's, applied by the same decorator on both.
 */
export function LegacyAlias(operationId: string, summary: string, v1Route: string, more = ''): MethodDecorator {
  return ApiOperation({
    summary: `${summary} (alias of the original design)`,
    operationId,
    description: `Same as ${v1Route}, kept for clients of the original design${more}.`,
    deprecated: true,
  });
}
