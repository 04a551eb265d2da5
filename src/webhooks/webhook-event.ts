import { RequestStatus } from '../requests/request-status.js';

/** Every event a receiver can subscribe to; today all of them announce a terminal status. */
export enum WebhookEventType {
  RequestCompleted = 'request.completed',
  RequestCompletedWithErrors = 'request.completed_with_errors',
  RequestFailed = 'request.failed',
  RequestCancelled = 'request.cancelled',
}

export const WEBHOOK_EVENT_TYPES: readonly WebhookEventType[] = Object.values(WebhookEventType);

/** What a request subscribes to when it names no `webhookEvents`. */
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEventType[] = [
  WebhookEventType.RequestCompleted,
  WebhookEventType.RequestCompletedWithErrors,
  WebhookEventType.RequestFailed,
  WebhookEventType.RequestCancelled,
];

const EVENT_FOR_STATUS: Partial<Record<RequestStatus, WebhookEventType>> = {
  [RequestStatus.Completed]: WebhookEventType.RequestCompleted,
  [RequestStatus.CompletedWithErrors]: WebhookEventType.RequestCompletedWithErrors,
  [RequestStatus.Failed]: WebhookEventType.RequestFailed,
  [RequestStatus.Cancelled]: WebhookEventType.RequestCancelled,
};

export function eventForStatus(status: RequestStatus): WebhookEventType | null {
  return EVENT_FOR_STATUS[status] ?? null;
}

/** The JSON body POSTed to the receiver (see WebhookEventDto for its documented shape). */
export interface WebhookEventPayload {
  type: WebhookEventType;
  timestamp: string;
  data: {
    requestId: string;
    status: RequestStatus;
    counts: {
      products: { total: number; processed: number };
      images: { total: number; succeeded: number; failed: number; cancelled: number; pending: number };
    };
    createdAt: string;
    completedAt: string;
    links: { status: string; export: string };
  };
}
