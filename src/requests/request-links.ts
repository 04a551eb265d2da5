import type { LinkObject } from '@nestjs/swagger';
import type { RequestLinksDto } from './dto/request-status.dto.js';

export const API_PREFIX = '/api/v1';

export function requestLinks(requestId: string): RequestLinksDto {
  const self = `${API_PREFIX}/requests/${requestId}`;
  return { self, products: `${self}/products`, export: `${self}/export` };
}

/** What a client can do next with the id an upload answers: OpenAPI links, so that tools can chain the calls. */
const NEXT_OPERATIONS: Record<string, string> = {
  getRequest: 'Its status, counts and first errors',
  streamRequestEvents: 'Its live progress',
  listProducts: 'Its products, with each image and output URL',
  exportRequest: 'The result CSV, once it is finished',
  archiveRequest: 'Every output image in one ZIP, once it is finished',
  cancelRequest: 'Cancel it',
  retryRequest: 'Retry its failed and cancelled images',
  deleteRequest: 'Delete it with its outputs',
  listWebhookDeliveries: 'Its webhook delivery log',
};

export const REQUEST_ID_LINKS: Record<string, LinkObject> = Object.fromEntries(
  Object.entries(NEXT_OPERATIONS).map(([operationId, description]) => [
    operationId,
    { operationId, description, parameters: { id: '$response.body#/requestId' } },
  ]),
);
