import { applyDecorators, SetMetadata } from '@nestjs/common';
import { ApiProblemResponses } from './api-problem-responses.decorator.js';

export const RATE_LIMIT = 'pixbatch:rate-limit';

/** The budgets a route may draw on beside the general one (RATE_LIMIT_PER_MINUTE), which every route draws on. */
export type RouteRateLimit = 'uploads' | 'writes';

const TOO_MANY: Record<RouteRateLimit, string> = {
  uploads:
    'Rate limit exceeded: more than UPLOAD_RATE_LIMIT_PER_MINUTE uploads (or more than RATE_LIMIT_PER_MINUTE ' +
    'requests) this minute; `rateLimit` names which; retry after the Retry-After header',
  writes:
    'Rate limit exceeded: more than WRITE_RATE_LIMIT_PER_MINUTE writes (or more than RATE_LIMIT_PER_MINUTE ' +
    'requests) this minute; `rateLimit` names which; retry after the Retry-After header',
};

/**
 * Makes a route draw on a budget of its own as well: `uploads` for the routes
 * that parse a CSV, `writes` for the ones that change a request or a delivery.
 */
export const RateLimit = (name: RouteRateLimit) =>
  applyDecorators(SetMetadata(RATE_LIMIT, name), ApiProblemResponses({ 429: TOO_MANY[name] }));
