import type { RequestCounts } from '../requests/request-counts.js';
import type { RequestStatus } from '../requests/request-status.js';
import type { WebhookEventType } from '../requests/request-events.js';

/** The JSON body POSTed to the receiver (see WebhookEventDto for its documented shape). */
export interface WebhookEventPayload {
  type: WebhookEventType;
  timestamp: string;
  data: {
    requestId: string;
    status: RequestStatus;
    counts: RequestCounts;
    createdAt: string;
    completedAt: string;
    links: { status: string; export: string };
  };
}
