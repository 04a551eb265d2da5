import { listRequests, type RequestListDto, type RequestStatus } from '@pixbatch/sdk';
import { useEffect, useState, type FormEvent } from 'react';
import { call } from '../api/client';
import { ApiProblem, toProblem } from '../api/problem';
import { Link } from '../components/link';
import { ProblemView } from '../components/problem-view';
import { ProgressBar } from '../components/progress-bar';
import { formatAge, imageCounts } from '../format';
import { navigate } from '../router';
import { statusText } from './request-view';

const STATUSES: RequestStatus[] = [
  'pending',
  'processing',
  'completed',
  'completed_with_errors',
  'failed',
  'cancelled',
];
const PAGE_SIZE = 10;
/** How often the list is read again while a request on it is still open. */
const REFRESH_MS = 2000;

/**
 * The caller's requests, newest first, with a status filter and cursor paging.
 * While any request on the page is pending or processing the page is read again
 * every REFRESH_MS, so bars and counts move; a page of finished requests is left alone.
 */
export function RequestsView() {
  const [filter, setFilter] = useState('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<RequestListDto | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const [refreshes, setRefreshes] = useState(0);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const query = {
      limit: PAGE_SIZE,
      ...(filter ? { status: [filter as RequestStatus] } : {}),
      ...(cursor ? { cursor } : {}),
    };
    call(listRequests({ query, signal: abort.signal }))
      .then((next) => {
        setPage(next);
        setProblem(null);
        if (next.items.some((request) => !request.completed))
          timer = setTimeout(() => setRefreshes((n) => n + 1), REFRESH_MS);
      })
      .catch((error: unknown) => {
        if (!abort.signal.aborted) setProblem(toProblem(error));
      });
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [filter, cursor, refreshes]);

  return (
    <section aria-labelledby="requests-heading">
      <h1 id="requests-heading">Requests</h1>
      <OpenById />
      <div className="card inline-form">
        <label htmlFor="status-filter">Status</label>
        <select
          id="status-filter"
          value={filter}
          onChange={(event) => {
            setFilter(event.target.value);
            setCursors([undefined]);
            setPage(null);
          }}
        >
          <option value="">All</option>
          {STATUSES.map((status) => (
            <option key={status} value={status}>
              {statusText(status)}
            </option>
          ))}
        </select>
      </div>
      {problem ? <ProblemView problem={problem} /> : null}
      {page === null && !problem ? <p aria-live="polite">Loading requests…</p> : null}
      <ul className="request-list" aria-label="Your requests, newest first">
        {page?.items.map((request) => (
          <li key={request.requestId} className="card request-item">
            <p className="request-title">
              <Link href={`/requests/${request.requestId}`}>{request.originalFilename}</Link>{' '}
              <span className={`badge status-${request.status}`}>{statusText(request.status)}</span>
            </p>
            <ProgressBar
              percent={request.percent}
              images={request.counts.images}
              status={request.status}
              label={`${request.originalFilename} progress`}
            />
            <p className="muted">
              {imageCounts(request.counts.images)} · {request.counts.products.total} products ·{' '}
              <time dateTime={request.createdAt} title={new Date(request.createdAt).toLocaleString()}>
                {formatAge(request.createdAt)}
              </time>
            </p>
          </li>
        ))}
      </ul>
      {page && page.items.length === 0 ? <p>{filter ? 'No request has this status.' : 'No requests yet.'}</p> : null}
      <nav className="pager" aria-label="Requests pages">
        <button
          type="button"
          className="secondary"
          disabled={cursors.length <= 1}
          onClick={() => {
            setCursors((c) => c.slice(0, -1));
            setPage(null);
          }}
        >
          Newer
        </button>
        <span className="muted">Page {cursors.length}</span>
        <button
          type="button"
          className="secondary"
          disabled={!page?.nextCursor}
          onClick={() => {
            const next = page?.nextCursor;
            if (!next) return;
            setCursors((c) => [...c, next]);
            setPage(null);
          }}
        >
          Older
        </button>
      </nav>
    </section>
  );
}

function OpenById() {
  const [id, setId] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (id.trim()) navigate(`/requests/${encodeURIComponent(id.trim())}`);
  };
  return (
    <form className="card inline-form" onSubmit={submit}>
      <label htmlFor="request-id">Request id</label>
      <input
        id="request-id"
        value={id}
        onChange={(event) => setId(event.target.value)}
        placeholder="0b9f…"
        autoComplete="off"
      />
      <button type="submit">Open</button>
    </form>
  );
}
