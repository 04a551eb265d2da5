import type { IncomingMessage, ServerResponse } from 'node:http';
import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { type RequestProgressRow, RequestRepository } from './request.repository.js';
import { imagesDone, percentDone, type RequestCounts, requestCounts } from './request-counts.js';
import { isTerminal } from './request-status.js';

/** A progress event at most this often: the watch reads the counters once per period. */
export const PROGRESS_PERIOD_MS = 250;
/** A comment this often keeps proxies and load balancers from closing an idle stream. */
export const KEEP_ALIVE_MS = 15_000;
/** What EventSource waits before reconnecting after the connection drops. */
const RECONNECT_MS = 2_000;

interface Watcher {
  onRow(row: RequestProgressRow | null): void;
  onKeepAlive(): void;
  /** The process is shutting down: end the stream (the client reconnects elsewhere with Last-Event-ID). */
  onShutdown?(): void;
}

/** What a `progress` event and the final `done` event carry. */
export interface ProgressEventData {
  requestId: string;
  status: string;
  /** 0 for the first run, then one more per retry. */
  round: number;
  counts: RequestCounts;
  percent: number;
  /** Images given an outcome per second since this stream began watching; null until one was. */
  imagesPerSecond: number | null;
  /** Seconds left at that pace; null while it is unknown. */
  etaSeconds: number | null;
  completedAt: string | null;
}

/**
 * One watch of the counters per API process, shared by all its event
 * streams: every PROGRESS_PERIOD_MS, one indexed read of the rows of the
 * requests someone watches. The counters are bumped in PostgreSQL by
 * whichever worker records an outcome, on whatever machine, so nothing in
 * this process decides what a stream reports; the watch stops when no one
 * is watching.
 */
@Injectable()
export class RequestEventHub implements OnModuleDestroy {
  private readonly logger = new Logger(RequestEventHub.name);
  private readonly watchers = new Map<string, Set<Watcher>>();
  private timer: NodeJS.Timeout | null = null;
  private reading = false;
  private lastKeepAlive = Date.now();

  constructor(private readonly requests: RequestRepository) {}

  /** Streams watched right now, for the bench and the metrics. */
  get streamCount(): number {
    let count = 0;
    for (const set of this.watchers.values()) count += set.size;
    return count;
  }

  watch(requestId: string, watcher: Watcher): () => void {
    let set = this.watchers.get(requestId);
    if (!set) this.watchers.set(requestId, (set = new Set()));
    set.add(watcher);
    this.timer ??= setInterval(() => void this.tick(), PROGRESS_PERIOD_MS);
    return () => {
      set.delete(watcher);
      if (set.size === 0) this.watchers.delete(requestId);
      if (this.watchers.size === 0 && this.timer) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  }

  /**
   * Open streams would keep the HTTP server from closing (they are never
   * idle), so a stopping API process ends them first; onModuleDestroy runs
   * before Nest closes the server.
   */
  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const set of [...this.watchers.values()]) for (const watcher of [...set]) watcher.onShutdown?.();
  }

  private async tick(): Promise<void> {
    // A slow read is not stacked on: the next period reads again.
    if (this.reading || this.watchers.size === 0) return;
    this.reading = true;
    try {
      const rows = await this.requests.progressOf([...this.watchers.keys()]);
      const byId = new Map(rows.map((row) => [row.id, row]));
      for (const [requestId, set] of [...this.watchers]) {
        for (const watcher of [...set]) watcher.onRow(byId.get(requestId) ?? null);
      }
      if (Date.now() - this.lastKeepAlive >= KEEP_ALIVE_MS) {
        this.lastKeepAlive = Date.now();
        for (const set of this.watchers.values()) for (const watcher of set) watcher.onKeepAlive();
      }
    } catch (error) {
      // A database blip costs a period or two of events, not the streams.
      this.logger.warn(`Reading request progress failed: ${(error as Error).message}`);
    } finally {
      this.reading = false;
    }
  }
}

/**
 * The event id is the state it reports, so any API process can tell whether
 * a reconnecting client (Last-Event-ID) has already seen the current state.
 */
export function progressEventId(row: RequestProgressRow): string {
  return `${row.retryRound}.${row.imagesSucceeded}.${row.imagesFailed}.${row.imagesCancelled}.${row.status}`;
}

/**
 * One Server-Sent Events stream on a raw Node response: the current state at
 * once (unless Last-Event-ID says the client has it), a `progress` event per
 * change, then one `done` event and the end of the stream.
 */
@Injectable()
export class RequestEventStreams {
  constructor(
    private readonly hub: RequestEventHub,
    private readonly requests: RequestRepository,
  ) {}

  async open(
    requestId: string,
    lastEventId: string | undefined,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-content-type-options': 'nosniff',
      // nginx and similar proxies would otherwise buffer the events.
      'x-accel-buffering': 'no',
    });
    res.write(`retry: ${RECONNECT_MS}\n\n`);

    let lastSent = lastEventId;
    let first: { at: number; done: number } | null = null;
    let closed = false;
    let unwatch: (() => void) | null = null;
    const close = () => {
      if (closed) return;
      closed = true;
      unwatch?.();
      res.end();
    };
    req.on('close', close);
    res.on('close', close);

    const onRow = (row: RequestProgressRow | null) => {
      if (closed) return;
      // Deleted while watched: there is nothing more to report.
      if (!row) return close();
      const done = imagesDone(row);
      const now = Date.now();
      first ??= { at: now, done };
      const id = progressEventId(row);
      const terminal = isTerminal(row.status);
      if (id !== lastSent) {
        lastSent = id;
        const data = toEventData(row, done, first, now);
        res.write(`id: ${id}\nevent: ${terminal ? 'done' : 'progress'}\ndata: ${JSON.stringify(data)}\n\n`);
      }
      if (terminal) close();
    };

    const [row] = await this.requests.progressOf([requestId]);
    onRow(row ?? null);
    if (!closed) {
      unwatch = this.hub.watch(requestId, {
        onRow,
        onKeepAlive: () => void res.write(': keep-alive\n\n'),
        onShutdown: close,
      });
    }
  }
}

function toEventData(
  row: RequestProgressRow,
  done: number,
  first: { at: number; done: number },
  now: number,
): ProgressEventData {
  const elapsedSeconds = (now - first.at) / 1000;
  const rate = done > first.done && elapsedSeconds > 0 ? (done - first.done) / elapsedSeconds : null;
  const counts = requestCounts(row);
  return {
    requestId: row.id,
    status: row.status,
    round: row.retryRound,
    counts,
    percent: percentDone(row),
    imagesPerSecond: rate === null ? null : Math.round(rate * 10) / 10,
    etaSeconds: rate === null ? null : Math.ceil(counts.images.pending / rate),
    completedAt: row.completedAt?.toISOString() ?? null,
  };
}
