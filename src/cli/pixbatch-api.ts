import { randomUUID } from 'node:crypto';
import { createClient, type Client } from '../../clients/typescript/src/client/index.js';
import type { StatusCounts } from './progress.js';
import {
  archiveRequest,
  cancelRequest,
  createRequest,
  exportRequest,
  getRequest,
  listRequests,
  retryRequest,
  streamRequestEvents,
  type CreateRequestData,
  type CreatedRequestDto,
  type ListRequestsData,
  type ProblemDocumentDto,
  type RequestListDto,
  type RequestStatusDto,
} from '../../clients/typescript/src/index.js';

/** A `progress` or `done` event of GET /api/v1/requests/{id}/events. */
export interface ProgressEvent extends StatusCounts {
  requestId: string;
  percent: number;
  imagesPerSecond: number | null;
  etaSeconds: number | null;
}

// The stream reconnects (with Last-Event-ID) this often before the CLI falls back to polling.
const STREAM_RECONNECTS = 3;

// Three more tries over about 7 s: enough for a restart or a brief overload.
const SUBMIT_RETRY_DELAYS_MS = [1000, 2000, 4000];

/** A call that did not succeed, worded for a person, with what the API said in detail. */
export class ApiCallError extends Error {
  constructor(
    message: string,
    readonly details: string[] = [],
    /** Worth trying again: no answer at all, a 5xx or a rate limit. */
    readonly transient = false,
  ) {
    super(message);
    this.name = 'ApiCallError';
  }
}

export type SubmitOptions = Pick<
  CreateRequestData['body'],
  'webhookUrl' | 'resize' | 'maxWidth' | 'maxHeight' | 'quality' | 'format' | 'reuse'
>;

/** The output formats the server accepts, as the generated SDK types them. */
export const OUTPUT_FORMATS: readonly NonNullable<SubmitOptions['format']>[] = ['keep', 'jpeg', 'webp', 'avif', 'png'];

/** The few calls the CLI makes, through the generated SDK, with failures turned into ApiCallError. */
export class PixbatchApi {
  private readonly client: Client;

  constructor(
    readonly baseUrl: string,
    apiKey?: string,
  ) {
    this.client = createClient({ baseUrl, auth: apiKey });
  }

  /**
   * Uploads once, retrying what is worth retrying (no answer, 5xx, 429) with
   * the same Idempotency-Key: if a first attempt did reach the server, the
   * retry gets its request back instead of creating a second batch.
   */
  async submit(
    file: File,
    options: SubmitOptions,
    retryDelaysMs: readonly number[] = SUBMIT_RETRY_DELAYS_MS,
  ): Promise<CreatedRequestDto> {
    const idempotencyKey = randomUUID();
    for (let attempt = 0; ; attempt++) {
      try {
        return this.unwrap(
          await createRequest({
            client: this.client,
            body: { file, ...options },
            headers: { 'Idempotency-Key': idempotencyKey },
          }),
        );
      } catch (error) {
        if (!(error instanceof ApiCallError && error.transient) || attempt >= retryDelaysMs.length) throw error;
        await new Promise((resolve) => setTimeout(resolve, retryDelaysMs[attempt]));
      }
    }
  }

  async status(id: string): Promise<RequestStatusDto> {
    return this.unwrap(await getRequest({ client: this.client, path: { id } }));
  }

  async cancel(id: string): Promise<RequestStatusDto> {
    return this.unwrap(await cancelRequest({ client: this.client, path: { id } }));
  }

  async retry(id: string, onlyTransient: boolean): Promise<RequestStatusDto> {
    const query = onlyTransient ? { only: 'transient' as const } : undefined;
    return this.unwrap(await retryRequest({ client: this.client, path: { id }, query }));
  }

  /**
   * The request's live progress, until its terminal event. The SDK's stream
   * reconnects with Last-Event-ID after a dropped connection; when it gives
   * up (an old server without the route, a proxy that buffers), the
   * generator just ends and the caller polls.
   */
  async *events(id: string, signal?: AbortSignal): AsyncGenerator<ProgressEvent> {
    const { stream } = await streamRequestEvents({
      client: this.client,
      path: { id },
      signal,
      sseMaxRetryAttempts: STREAM_RECONNECTS,
      sseDefaultRetryDelay: 500,
    });
    for await (const data of stream) {
      if (typeof data === 'object' && data !== null && 'counts' in data) yield data;
    }
  }

  async list(query: NonNullable<ListRequestsData['query']>): Promise<RequestListDto> {
    return this.unwrap(await listRequests({ client: this.client, query }));
  }

  /** The result CSV as the server sent it, byte for byte (the BOM included). */
  async export(id: string): Promise<ReadableStream<Uint8Array>> {
    const body = this.unwrap(await exportRequest({ client: this.client, path: { id }, parseAs: 'stream' }));
    return body as unknown as ReadableStream<Uint8Array>;
  }

  /** Every output image and the result CSV in one ZIP, as the server streams it. */
  async archive(id: string): Promise<ReadableStream<Uint8Array>> {
    const body = this.unwrap(await archiveRequest({ client: this.client, path: { id }, parseAs: 'stream' }));
    return body as unknown as ReadableStream<Uint8Array>;
  }

  private unwrap<T>(result: { data?: T; error?: unknown; response?: Response }): T {
    if (result.error === undefined) return result.data as T;
    const { error, response } = result;
    if (!response) throw new ApiCallError(`cannot reach ${this.baseUrl} (${unreachableReason(error)})`, [], true);
    const transient = response.status >= 500 || response.status === 429;
    if (response.status === 401) {
      const said = isProblem(error) ? `${error.title} (${error.code})` : 'API key missing or not valid';
      throw new ApiCallError(`${said}: pass the key with --api-key KEY or set PIXBATCH_API_KEY`);
    }
    if (isProblem(error)) {
      const detail = error.detail ? `: ${error.detail}` : '';
      throw new ApiCallError(
        `${error.title} (${error.code}, HTTP ${response.status})${detail}`,
        (error.errors ?? []).map(describeIssue),
        transient,
      );
    }
    throw new ApiCallError(`HTTP ${response.status} from ${response.url}`, [], transient);
  }
}

function isProblem(value: unknown): value is ProblemDocumentDto {
  return typeof value === 'object' && value !== null && 'code' in value && 'title' in value;
}

function describeIssue(issue: NonNullable<ProblemDocumentDto['errors']>[number]): string {
  const where = [
    issue.row != null ? `row ${issue.row}` : null,
    issue.line != null ? `line ${issue.line}` : null,
    issue.column ?? issue.field ?? null,
  ].filter(Boolean);
  return `${where.length ? `${where.join(', ')}: ` : ''}${issue.code ? `${issue.code} ` : ''}${issue.message}`;
}

/** Why fetch rejected: it throws a TypeError whose cause names the socket error (ECONNREFUSED, ENOTFOUND, …). */
function unreachableReason(error: unknown): string {
  const { cause, message } = error as { cause?: { code?: string; message?: string }; message?: string };
  return cause?.code ?? cause?.message ?? message ?? String(error);
}
