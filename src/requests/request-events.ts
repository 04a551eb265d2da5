import type { EntityManager } from '@mikro-orm/postgresql';
import { RequestStatus } from './request-status.js';
import type { TerminalRequest } from './request.repository.js';

/**
 * The events a request's lifecycle announces, and the port through which it
 * hands them on: the webhooks feature implements it (and webhook-state.port.ts),
 * so requests/ never imports webhooks/ (the finalizer writes the event in its
 * own transaction).
 */

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

/** Where a terminal event goes: written in the caller's transaction, sent after its commit. */
export abstract class RequestEventOutbox {
  /** The new delivery's id, or null when the request has no webhook or did not subscribe to the event. */
  abstract recordTerminalEvent(tx: EntityManager, request: TerminalRequest): Promise<string | null>;
  abstract dispatch(deliveryId: string): Promise<void>;
}
