import { fetchEventSource } from '@microsoft/fetch-event-source';
import { getRequest, type RequestStatusDto } from '@pixbatch/sdk';
import { useCallback, useEffect, useRef, useState } from 'react';
import { authHeaders, call, reportAuthRequired } from './client';
import { ApiProblem, toProblem } from './problem';

export interface Throughput {
  imagesPerSecond: number | null;
  etaSeconds: number | null;
}

export interface RequestProgress {
  status: RequestStatusDto | null;
  throughput: Throughput;
  /** Where updates come from: the event stream, or status polling while the stream endpoint is missing. */
  source: 'events' | 'polling' | 'idle';
  problem: ApiProblem | null;
  /** Reads the status again, e.g. after a retry or a redelivery. */
  reload: () => void;
}

const POLL_MS = 1000;
/**
 * Progress events carry counts only: after this long without one, the status is
 * read again for what they leave out (a source host that asked us to wait).
 */
const QUIET_MS = 5000;

/** Raised in onopen when the server has no events route yet: the hook then polls. */
class EventsUnavailable extends Error {}

/** A `progress` event's fields; the terminal event ends the stream. Unknown fields are ignored. */
interface ProgressEvent {
  status?: RequestStatusDto['status'];
  percent?: number;
  counts?: Partial<RequestStatusDto['counts']>;
  imagesPerSecond?: number | null;
  etaSeconds?: number | null;
}

function merge(status: RequestStatusDto, event: ProgressEvent): RequestStatusDto {
  return {
    ...status,
    status: event.status ?? status.status,
    percent: event.percent ?? status.percent,
    counts: {
      products: { ...status.counts.products, ...event.counts?.products },
      images: { ...status.counts.images, ...event.counts?.images },
    },
  };
}

/** Images/s and ETA from two status samples, for when the server does not send them. */
function estimate(previous: { at: number; done: number } | null, status: RequestStatusDto, at: number): Throughput {
  const { total, pending } = status.counts.images;
  const done = total - pending;
  if (!previous || at <= previous.at || done <= previous.done) return { imagesPerSecond: null, etaSeconds: null };
  const rate = ((done - previous.done) * 1000) / (at - previous.at);
  return { imagesPerSecond: rate, etaSeconds: pending / rate };
}

/**
 * Live state of one request: one status read, then the Server-Sent Events stream
 * (read through fetch so the API key travels in a header). While the server has
 * no events route (404 NOT_FOUND on the route itself), it polls the status instead.
 */
export function useRequestProgress(requestId: string): RequestProgress {
  const [status, setStatus] = useState<RequestStatusDto | null>(null);
  const [throughput, setThroughput] = useState<Throughput>({ imagesPerSecond: null, etaSeconds: null });
  const [source, setSource] = useState<RequestProgress['source']>('idle');
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [generation, setGeneration] = useState(0);
  const sample = useRef<{ at: number; done: number } | null>(null);
  const reload = useCallback(() => setGeneration((n) => n + 1), []);

  useEffect(() => {
    const abort = new AbortController();
    // Closes only the stream, when its terminal event arrives; `abort` ends everything on unmount.
    const streamAbort = new AbortController();
    abort.signal.addEventListener('abort', () => streamAbort.abort());
    let timer: ReturnType<typeof setTimeout> | undefined;
    let quietTimer: ReturnType<typeof setTimeout> | undefined;
    streamAbort.signal.addEventListener('abort', () => clearTimeout(quietTimer));

    const read = async (): Promise<RequestStatusDto> => {
      const next = await call(getRequest({ path: { id: requestId }, signal: abort.signal }));
      const at = Date.now();
      setThroughput(estimate(sample.current, next, at));
      sample.current = { at, done: next.counts.images.total - next.counts.images.pending };
      setStatus(next);
      setProblem(null);
      return next;
    };

    const poll = async () => {
      setSource('polling');
      try {
        const next = await read();
        // poll catches its own failures, so nothing waits for the next round.
        if (!next.completed && !abort.signal.aborted) timer = setTimeout(() => void poll(), POLL_MS);
        else setSource('idle');
      } catch (error) {
        if (!abort.signal.aborted) setProblem(toProblem(error));
      }
    };

    /**
     * While the stream is quiet, reads the paused hosts again; only those: the
     * counts stay the events' (a read that started before an event is older).
     */
    const refreshWhenQuiet = () => {
      clearTimeout(quietTimer);
      quietTimer = setTimeout(() => {
        void call(getRequest({ path: { id: requestId }, signal: streamAbort.signal }))
          .then((next) => setStatus((current) => (current ? { ...current, pausedHosts: next.pausedHosts } : current)))
          // The stream reports lasting failures; a missed refresh waits for the next one.
          .catch(() => undefined)
          .finally(() => {
            if (!streamAbort.signal.aborted) refreshWhenQuiet();
          });
      }, QUIET_MS);
    };

    const stream = () =>
      fetchEventSource(`/api/v1/requests/${encodeURIComponent(requestId)}/events`, {
        headers: { ...authHeaders(), accept: 'text/event-stream' },
        signal: streamAbort.signal,
        openWhenHidden: true,
        async onopen(response) {
          if (response.ok && response.headers.get('content-type')?.startsWith('text/event-stream')) {
            setSource('events');
            refreshWhenQuiet();
            return;
          }
          const body: unknown = await response.json().catch(() => null);
          const failure = toProblem(body, response.status);
          if (response.status === 404 && failure.code === 'NOT_FOUND') throw new EventsUnavailable();
          if (failure.status === 401) reportAuthRequired(failure);
          throw failure;
        },
        onmessage(message) {
          if (!message.data) return;
          if (message.event === 'progress' || message.event === '') {
            const event = JSON.parse(message.data) as ProgressEvent;
            refreshWhenQuiet();
            setStatus((current) => (current ? merge(current, event) : current));
            if (event.imagesPerSecond !== undefined || event.etaSeconds !== undefined) {
              setThroughput({ imagesPerSecond: event.imagesPerSecond ?? null, etaSeconds: event.etaSeconds ?? null });
            }
            return;
          }
          // Any other event is the terminal one: the full status (errors, webhook) is read once more.
          streamAbort.abort();
          setSource('idle');
          void read().catch((error: unknown) => setProblem(toProblem(error)));
        },
        onclose() {
          // The server ended the stream without a terminal event (restart, proxy timeout): resume.
          throw new Error('event stream closed');
        },
        onerror(error) {
          // Returning lets the library reconnect with its backoff; throwing stops it.
          if (error instanceof EventsUnavailable || error instanceof ApiProblem) throw error;
        },
      });

    // Runs for the effect's life and reports its own failures; the cleanup below stops it.
    void (async () => {
      try {
        const first = await read();
        if (first.completed || abort.signal.aborted) return;
        // However the stream ends, its quiet refresh ends with it.
        await stream().finally(() => streamAbort.abort());
      } catch (error) {
        if (abort.signal.aborted) return;
        if (error instanceof EventsUnavailable) await poll();
        else setProblem(toProblem(error));
      }
    })();

    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [requestId, generation]);

  return { status, throughput, source, problem, reload };
}
