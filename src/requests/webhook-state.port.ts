import type { RequestWebhookDto } from './dto/request-status.dto.js';
import type { RequestStatusRow } from './request.repository.js';

/**
 * What a request's status reports about its webhook: a port the webhooks
 * feature implements, as it does the ones in request-events.ts. It lives apart
 * from them because it answers with a DTO, and the DTOs import the event names.
 */
export abstract class RequestWebhookState {
  abstract stateOf(request: RequestStatusRow): Promise<RequestWebhookDto>;
}
