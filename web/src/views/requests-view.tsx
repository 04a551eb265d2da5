import type { RequestStatusDto } from '@pixbatch/sdk';
import { useEffect, useState, type FormEvent } from 'react';
import { call } from '../api/client';
import { plannedOperation } from '../api/operations';
import { ApiProblem, toProblem } from '../api/problem';
import { Link } from '../components/link';
import { ProblemView } from '../components/problem-view';
import { ProgressBar } from '../components/progress-bar';
import { formatAge } from '../format';
import { navigate } from '../router';
import { statusText } from './request-view';

const STATUSES = ['pending', 'processing', 'completed', 'completed_with_errors', 'failed', 'cancelled'] as const;

/** One page of the list endpoint: the statuses it carries, and the cursor of the next page. */
interface RequestPage {
  items: RequestStatusDto[];
  nextCursor?: string | null;
}

/** The caller's requests, newest first, with a status filter and cursor paging. */
export function RequestsView() {
  const list = plannedOperation('listRequests');
  const [filter, setFilter] = useState('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [page, setPage] = useState<RequestPage | null>(null);
  const [problem, setProblem] = useState<ApiProblem | null>(null);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    if (!list) return;
    const abort = new AbortController();
    const query = { ...(filter ? { status: filter } : {}), ...(cursor ? { cursor } : {}) };
    call(list({ query, signal: abort.signal }))
      .then((next) => setPage(next as RequestPage))
      .catch((error: unknown) => {
        if (!abort.signal.aborted) setProblem(toProblem(error));
      });
    return () => abort.abort();
  }, [list, filter, cursor]);

  return (
    <section aria-labelledby="requests-heading">
      <h1 id="requests-heading">Requests</h1>
      <OpenById />
      {list ? (
        <>
          <div className="card inline-form">
            <label htmlFor="status-filter">Status</label>
            <select
              id="status-filter"
              value={filter}
              onChange={(event) => {
                setFilter(event.target.value);
                setCursors([undefined]);
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
          <ul className="request-list">
            {page?.items.map((request) => (
              <li key={request.requestId} className="card">
                <Link href={`/requests/${request.requestId}`}>{request.originalFilename}</Link>{' '}
                <span className={`badge status-${request.status}`}>{statusText(request.status)}</span>
                <ProgressBar percent={request.percent} label={`${request.originalFilename} progress`} />
                <p className="muted">
                  {request.counts.images.succeeded} succeeded, {request.counts.images.failed} failed of {request.counts.images.total} images ·{' '}
                  {request.counts.products.total} products · {formatAge(request.createdAt)}
                </p>
              </li>
            ))}
          </ul>
          {page && page.items.length === 0 ? <p>No requests yet.</p> : null}
          <nav className="pager" aria-label="Requests pages">
            <button type="button" className="secondary" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>
              Newer
            </button>
            <button
              type="button"
              className="secondary"
              disabled={!page?.nextCursor}
              onClick={() => setCursors((c) => [...c, page?.nextCursor ?? undefined])}
            >
              Older
            </button>
          </nav>
        </>
      ) : (
        <p className="card">The list of your requests arrives with the next version of the API. Open one by its id meanwhile.</p>
      )}
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
      <input id="request-id" value={id} onChange={(event) => setId(event.target.value)} placeholder="0b9f…" autoComplete="off" />
      <button type="submit">Open</button>
    </form>
  );
}
