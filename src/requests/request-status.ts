export enum RequestStatus {
  Pending = 'pending',
  Processing = 'processing',
  Completed = 'completed',
  CompletedWithErrors = 'completed_with_errors',
  Failed = 'failed',
  /** Stopped by the caller; terminal like the others, and retryable like them. */
  Cancelled = 'cancelled',
}

export const TERMINAL_REQUEST_STATUSES: readonly RequestStatus[] = [
  RequestStatus.Completed,
  RequestStatus.CompletedWithErrors,
  RequestStatus.Failed,
  RequestStatus.Cancelled,
];

export function isTerminal(status: RequestStatus): boolean {
  return TERMINAL_REQUEST_STATUSES.includes(status);
}

/** The terminal status a request earns from its image outcomes. */
export function terminalStatusFor(succeeded: number, failed: number): RequestStatus {
  if (succeeded === 0) return RequestStatus.Failed;
  return failed === 0 ? RequestStatus.Completed : RequestStatus.CompletedWithErrors;
}
