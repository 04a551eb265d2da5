import type { RequestLinksDto } from './dto/request-status.dto.js';

export const API_PREFIX = '/api/v1';

export function requestLinks(requestId: string): RequestLinksDto {
  const self = `${API_PREFIX}/requests/${requestId}`;
  return { self, products: `${self}/products`, export: `${self}/export` };
}
